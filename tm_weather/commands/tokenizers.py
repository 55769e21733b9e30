"""`tm-weather tokenizers train|eval`: train a modality's FSQ tokenizer and ship it under `tokenizers/`, or print
the held-out quality table of every shipped checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from tm_weather.errors import EXIT_OK
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
    rows = []
    for card, m in evaluate_shipped(args.dir, args.modality):
        cfg = card["config"]
        tokens = cfg.get("tokens") or f"{cfg['size'] // cfg['patch']}x{cfg['size'] // cfg['patch']}"
        name, value = m["headline"]
        levels = "-".join(str(n) for n in cfg["levels"])
        shipped = card["metrics"]["headline"][1]
        rows.append((card["modality"], str(tokens), levels, name, f"{value:.3f}", f"{shipped:.3f}",
                     f"{100 * m['codebook_usage']:.2f}%", f"{m['perplexity']:.0f}"))
        if "real_tiles" in m:
            real = m["real_tiles"]
            rows.append(("  real S-2 tiles", "", "", real["headline"][0], f"{real['headline'][1]:.3f}",
                         f"{card['metrics']['real_tiles']['headline'][1]:.3f}", f"{100 * real['codebook_usage']:.2f}%",
                         f"{real['perplexity']:.0f}"))
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    for r in (header, *rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return EXIT_OK
