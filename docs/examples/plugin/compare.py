"""Train `pair_temp_clip` (with and without its weighted score), `clip` and `symile` on
`noisy_views` with one fixed setting (no tuning) and print test top-1 retrieving a from (b, c),
overall and by `c_reliable`. Deterministic on CPU. Run: python docs/examples/plugin/compare.py
"""

from __future__ import annotations

import polars as pl
import torch
from robustlab.evaluate import Task, evaluate
from robustlab.methods import ENCODERS, METHODS
from robustlab.train import TrainConfig, train

from robustlab_pairtemp import NoisyViews, PairTempClip

VARIANTS = {"clip": (METHODS.get("clip"), {}), "symile": (METHODS.get("symile"), {}),
            "pair_temp_clip": (PairTempClip, {}),
            "pair_temp_clip, weighted_score false": (PairTempClip, {"weighted_score": False})}
SEEDS = (0, 1, 2)


def top1(cls: type, options: dict, data: object, seed: int) -> tuple[float, float, float]:
    encoder = ENCODERS.get("mlp")(dim=32, depth=2, hidden=64)
    task = Task(protocol="retrieval", target="a", candidates="all")
    model = cls.build(cls.Options(**options), data.dims, encoder, seed=seed)
    train(model, data, TrainConfig(epochs=15, lr=3e-3, seed=seed), task=task)
    test = data.split("test")
    frame = evaluate(model, data, test, task=task, seed=seed).join(
        pl.DataFrame({"example_id": test.example_id, "reliable": test.metadata["c_reliable"]}),
        on="example_id")
    by = dict(frame.group_by("reliable").agg(pl.col("correct").mean()).iter_rows())
    return float(frame["correct"].mean()), by[True], by[False]


def main() -> None:
    torch.set_num_threads(1)
    data = NoisyViews(n=4000).build(seed=0)
    print(f"{'method':<38} {'top-1':>13} {'c reliable':>13} {'c unrelated':>13}")
    for name, (cls, options) in VARIANTS.items():
        runs = torch.tensor([top1(cls, options, data, s) for s in SEEDS])  # (seeds, 3)
        mean, std = runs.mean(0), runs.std(0)
        print(f"{name:<38} " + " ".join(f"{m:.3f} ± {s:.3f}" for m, s in zip(mean, std,
                                                                            strict=True)))


if __name__ == "__main__":
    main()
