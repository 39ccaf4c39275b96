"""CoMM and COrAL with and without the views retrieval scores (`pair_views`, issue 14).

Retrieval scores a fusion model by cos(Z(context pair), Z(target alone)); the papers' losses
never align those views. On the default study's data and backbone (`synthetic_xnor`,
n = 4000, batch 64, `mlp` 64 × 2 with hidden 128), each method is trained with `pair_views`
off (the paper's loss) and on (what a retrieval study resolves `auto` to), at two fixed
settings: lr 3e-3 for 30 epochs (the top of the common lr range before issue 14) and lr 1e-2
for 16 epochs (the default study's plateau). Test top-1 retrieving A from (B, C) among all
400 test items (chance 0.0025), mean ± std over 3 seeds. Nothing is tuned.

    .venv/bin/python -m bench pair_views
"""

from __future__ import annotations

import time
from itertools import product

import numpy as np
import polars as pl

from bench._workers import sweep

METHODS = ("comm", "coral")
PAIR_VIEWS = (False, True)
SETTINGS = ((3e-3, 30), (1e-2, 16))  # (lr, epochs)
SEEDS = (0, 1, 2)
N, BATCH, DIM, HIDDEN = 4000, 64, 64, 128


def run_one(method: str, pair_views: bool, lr: float, epochs: int, seed: int
            ) -> dict[str, object]:
    from robustlab.data import DATASETS
    from robustlab.evaluate import Task, evaluate, top1
    from robustlab.methods import ENCODERS, METHODS
    from robustlab.train import TrainConfig, train

    start = time.perf_counter()
    data = DATASETS.get("synthetic_xnor")(n=N, corruption=0.0).build(0)
    cls = METHODS.get(method)
    encoder = ENCODERS.get("mlp")(dim=DIM, depth=2, hidden=HIDDEN)
    model = cls.build(cls.Options(pair_views=pair_views), data.dims, encoder, seed=seed)
    task = Task(target="a")
    config = TrainConfig(epochs=epochs, batch_size=BATCH, lr=lr, device="cpu", seed=seed)
    result = train(model, data, config, task=task)
    frame = evaluate(model, data, data.split("test"), task=task, seed=seed)
    return {"method": method, "pair_views": pair_views, "lr": lr, "epochs": epochs,
            "seed": seed, "top1": top1(frame), "best_epoch": result.best_epoch,
            "wall_s": time.perf_counter() - start}


def _table(runs: pl.DataFrame) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    print(f"{'method':>8} {'lr':>6} {'epochs':>6} | {'pair_views off':>15} {'on':>15}")
    for method, (lr, epochs) in product(METHODS, SETTINGS):
        cells = {}
        for pair_views in PAIR_VIEWS:
            mine = runs.filter((pl.col("method") == method) & (pl.col("lr") == lr)
                               & (pl.col("pair_views") == pair_views))["top1"].to_numpy()
            cells[pair_views] = f"{np.mean(mine):.3f} ± {np.std(mine):.3f}"
        print(f"{method:>8} {lr:>6g} {epochs:>6} | {cells[False]:>15} {cells[True]:>15}")
        rows.append({"method": method, "lr": lr, "epochs": epochs,
                     "off": cells[False], "on": cells[True]})
    return rows


def main() -> dict[str, object]:
    jobs = [(m, pv, lr, ep, s) for m, pv, (lr, ep), s in product(METHODS, PAIR_VIEWS,
                                                                  SETTINGS, SEEDS)]
    return sweep(run_one, jobs,
                 describe=f"synthetic_xnor n={N}, batch {BATCH}, mlp {DIM}x2 (hidden {HIDDEN});"
                          f" seeds {list(SEEDS)}; test top-1 among all test items",
                 table=_table,
                 settings={"n": N, "batch": BATCH, "dim": DIM, "hidden": HIDDEN,
                           "settings": SETTINGS, "seeds": list(SEEDS)})
