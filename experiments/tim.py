"""Thinking-in-Modalities experiment (issue 6): T2M with and without generated land cover, as TerraMind's TiM table.

TerraMind's TiM: the model first generates a modality it was pre-trained on (here LULC, from the S-2 tokens) and
feeds it back as an input, which TerraMind reports helps fine-tuned tasks. Two parts, on the test split:

1. Zero-shot (the shipped checkpoint as it is), with and without the GFS series: standard generation, TiM
   (LULC generated first and fed back) and, as the ceiling TiM aims at, the true LULC given.
2. Fine-tuning (`tm_weather.train.fine_tune`, Lightning, the generation task only, `--steps` steps on the
   world's train split), both from the shipped checkpoint:
   - standard fine-tuning: no LULC input (a user with S-2 only);
   - TiM fine-tuning: every training sample gets the LULC the shipped model generates from its tile's S-2 as
     an input, and evaluation generates it the same way (TiM) before T2M.
The pixel accuracy of the generated LULC against the world's true LULC is reported too.

    .venv/bin/python experiments/tim.py [--world full] [--every 3] [--members 8] [--steps 300]

Writes `experiments/results/tim.md` and `.json`.
"""

from __future__ import annotations

import dataclasses

import torch
from _common import parser, provenance, start, table, write

from tm_weather.model.generate import GenerationConfig, generate
from tm_weather.model.skill import STANDARD, ensembles, score
from tm_weather.train import fine_tune

LAND = ("s2l2a", "ndvi", "coords", "time")  # what the generated LULC is conditioned on


def generated_lulc(model, samples, tokenizers) -> tuple[torch.Tensor, float]:
    """LULC tokens `(n, 196)` generated once per tile (from its first sample's S-2, NDVI, place and time,
    one member, seed 0), and their pixel accuracy (decoded classes) against the samples' true LULC."""
    out = samples.tokens["lulc"].clone()
    hits, total = 0, 0
    for t in torch.unique(samples.tile):
        rows = torch.nonzero(samples.tile == t).flatten()
        first = int(rows[0])
        cond = {k: samples.tokens[k][first] for k in LAND}
        tokens = generate(model, cond, ("lulc",), GenerationConfig(members=1, steps=8))["lulc"][0]
        out[rows] = tokens
        if bool(samples.present["lulc"][first]):
            made = tokenizers.decode("lulc", tokens[None])
            true = tokenizers.decode("lulc", samples.tokens["lulc"][first][None])
            hits, total = hits + int((made == true).sum()), total + true.numel()
    return out, hits / max(total, 1)


def with_lulc(samples, lulc: torch.Tensor | None):
    """`samples` with LULC tokens `lulc` `(n, 196)` present, or with no LULC at all (None)."""
    tokens = {**samples.tokens, "lulc": lulc if lulc is not None else samples.tokens["lulc"]}
    present = {**samples.present, "lulc": torch.full_like(samples.present["lulc"], lulc is not None)}
    return dataclasses.replace(samples, tokens=tokens, present=present)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--steps", type=int, default=300, help="fine-tuning steps of 16 samples (default 300)")
    args, started, s, truth = start(p)
    no_gfs = tuple(k for k in STANDARD if k != "gfs")
    numbers: dict = {"zero-shot": {}, "fine-tuned": {}}

    def run(model, label: str, part: str, **kwargs) -> None:
        print(f"{part}: {label} ...")
        generator = dataclasses.replace(s.generator, model=model)
        numbers[part][label] = score(ensembles(generator, s.catalog, s.test, s.rows, config=s.config, **kwargs)[0], truth)

    model, tokenizers = s.generator.model, s.generator.tokenizers
    for gfs_label, conditions in (("with GFS", STANDARD), ("without GFS", no_gfs)):
        run(model, f"standard, {gfs_label}", "zero-shot", conditions_of=conditions)
        run(model, f"TiM, {gfs_label}", "zero-shot", conditions_of=conditions, tim=True)
        run(model, f"true LULC, {gfs_label}", "zero-shot", conditions_of=conditions + ("lulc",))

    train = s.split("train")
    lulc, accuracy = generated_lulc(model, train, tokenizers)
    numbers["generated_lulc_pixel_accuracy"] = accuracy
    print(f"generated LULC pixel accuracy on the train tiles: {accuracy:.3f}")
    tuned = {
        "standard fine-tuning": fine_tune(model, with_lulc(train, None), tokenizers, args.steps),
        "TiM fine-tuning": fine_tune(model, with_lulc(train, lulc), tokenizers, args.steps),
    }
    run(tuned["standard fine-tuning"], "standard fine-tuning", "fine-tuned", conditions_of=STANDARD)
    run(tuned["TiM fine-tuning"], "TiM fine-tuning", "fine-tuned", conditions_of=STANDARD, tim=True)

    def rows(part: str) -> list[list[str]]:
        """Each row against the standard generation of its own group (with / without GFS; fine-tuned)."""
        out = []
        for label, r in numbers[part].items():
            ref = "standard fine-tuning" if part == "fine-tuned" else "standard, " + label.split(", ")[1]
            base = numbers[part][ref]["rmse"]
            out.append([label, f"{r['rmse']:.3f}", f"{100 * (r['rmse'] / base - 1):+.1f}%", f"{r['crps']:.3f}",
                        f"{r['bias']:+.3f}", f"{r['spread_skill']:.2f}"])
        return out

    header = ["generation", "RMSE K", "RMSE vs standard", "CRPS K", "bias K", "spread-skill"]
    md = "\n\n".join([
        "# Thinking-in-Modalities: T2M with and without generated land cover",
        provenance(args, started) + f" Fine-tuning: {args.steps} steps x 16 samples of the train split, lr 3e-4.",
        "## Zero-shot (shipped checkpoint)",
        table(header, rows("zero-shot")),
        "## Fine-tuned on the generation task (S-2, NDVI, DEM, GFS, place, time -> T2M)",
        table(header, rows("fine-tuned")),
        f"Generated LULC against the world's true LULC (train tiles, pixels): accuracy {accuracy:.3f}.",
    ])
    write(args.out, "tim", md, numbers)


if __name__ == "__main__":
    main()
