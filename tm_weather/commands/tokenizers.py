"""`tm-weather tokenizers train|eval`: train a modality's FSQ tokenizer and ship it under `tokenizers/`, or print
the held-out quality table of every shipped checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from tm_weather.errors import EXIT_OK
from tm_weather.lexicon import S2_BANDS
from tm_weather.tokenizers.cards import evaluate_shipped, train_and_ship
from tm_weather.tokenizers.registry import CHECKPOINT_DIR, MODALITIES


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("tokenizers", help="train and evaluate the FSQ tokenizers")
    sub = p.add_subparsers(dest="tokenizers_command", required=True, metavar="ACTION")

    t = sub.add_parser("train", help="train one modality's tokenizer; writes its checkpoint and model card")
    t.add_argument("--modality", required=True, choices=sorted(MODALITIES))
    t.add_argument("--preset", default="demo", choices=("demo", "full"))
    t.add_argument("--data", type=Path, help="training data file (default: the shipped fixture)")
    t.add_argument("--out", type=Path, default=CHECKPOINT_DIR, help="folder for the checkpoint and card")
    t.set_defaults(func=_train)

    e = sub.add_parser("eval", help="print the held-out quality table of the shipped checkpoints")
    e.add_argument("--dir", type=Path, default=CHECKPOINT_DIR, help="folder of checkpoints and model cards")
    e.add_argument("--modality", action="append", choices=sorted(MODALITIES), help="only these (repeatable)")
    e.set_defaults(func=_eval)


def _train(args: argparse.Namespace) -> int:
    card = train_and_ship(args.modality, args.preset, args.data, args.out)
    print(f"wrote {args.out / card['checkpoint']} (sha256 {card['sha256'][:12]})")
    for key, value in card["metrics"].items():
        print(f"  {key}: {value}")
    return EXIT_OK


def _eval(args: argparse.Namespace) -> int:
    header = ("modality", "tokens", "codes", "held-out metric", "now", "card", "codebook usage", "perplexity")
    rows, bands = [], []
    for card, m in evaluate_shipped(args.dir, args.modality):
        cfg = card["config"]
        tokens = cfg.get("tokens") or f"{cfg['size'] // cfg['patch']}x{cfg['size'] // cfg['patch']}"
        levels = "-".join(str(n) for n in cfg["levels"])
        rows.append(_row(card["modality"], str(tokens), levels, m, card["metrics"]))
        if "real_tiles" in m:
            rows.append(_row("  real S-2 tiles", "", "", m["real_tiles"], card["metrics"]["real_tiles"]))
        if "rmse_k_in_band" in m:  # a tokenizer with a level grid, at other climates' daily means
            sweep = " ".join(f"{band} {v:.3f}" for band, v in m["rmse_k_in_band"].items())
            bands.append(f"{card['modality']} RMSE K with the held-out days' daily means moved into (K): {sweep}")
        if card["modality"] == "s2l2a":
            for label, metrics in (("world test split", m), ("real tiles", m["real_tiles"])):
                psnr = " ".join(f"{b} {v:.1f}" for b, v in zip(S2_BANDS, metrics["psnr_db_per_channel"]))
                bands.append(f"s2l2a PSNR dB per band, {label}: {psnr}")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for r in (header, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    for line in bands:
        print(line)
    return EXIT_OK


def _row(name: str, tokens: str, levels: str, now: dict, card: dict) -> tuple[str, ...]:
    """A table row: held-out metric measured now beside the card's, and codebook use measured now."""
    metric, value = now["headline"]
    return (name, tokens, levels, metric, f"{value:.3f}", f"{card['headline'][1]:.3f}",
            f"{100 * now['codebook_usage']:.2f}%", f"{now['perplexity']:.0f}")
