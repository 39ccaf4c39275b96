"""The Gated Symile fragility sweep on `synthetic_xnor` (arXiv 2604.05834, scaled down).

For each corruption fraction p ∈ {0, 0.2, …, 1.0} and seed, train Symile and Gated Symile
(default options) on the same data and report test top-1 for retrieving A from (B, C):
- `all`:  among every test item (our default protocol),
- `k128`: among the true item + 127 sampled test items (≈ the reference's in-batch
          retrieval with batch size 128),
- `clean` / `corrupt`: `all` restricted to the examples whose B and C are intact / whose B or
          C had its signal swapped (the `corrupted_modality` slice).
The table is the mean (± std) over seeds. Training settings are fixed up front (below) and
are the same for both methods; nothing is tuned per p. Runs go to 2 worker processes
(one torch thread each) on the 2-core machine.

    .venv/bin/python -m bench xnor_sweep
"""

from __future__ import annotations

import time
from itertools import product

import numpy as np
import polars as pl

from bench._workers import sweep

P_GRID = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
SEEDS = (0, 1, 2)
METHODS = ("symile", "gated_symile")
N = 5000  # examples (80/10/10 split: 4000 train, 500 val, 500 test)
EPOCHS = 8
BATCH = 128
LR = 1e-2
DIM = 64  # encoder: mlp, depth 2, hidden = dim = 64

def run_one(p: float, seed: int, method: str) -> dict[str, float | int | str]:
    """Train one method on synthetic_xnor(corruption=p) with `seed`; test figures."""
    from robustlab.data import DATASETS
    from robustlab.evaluate import Task, evaluate, top1
    from robustlab.methods import ENCODERS, METHODS
    from robustlab.train import TrainConfig, train

    start = time.perf_counter()
    data = DATASETS.get("synthetic_xnor")(n=N, corruption=p).build(seed)
    cls = METHODS.get(method)
    encoder = ENCODERS.get("mlp")(dim=DIM, depth=2, hidden=DIM)
    model = cls.build(cls.Options(), data.dims, encoder, seed=seed)
    config = TrainConfig(epochs=EPOCHS, batch_size=BATCH, lr=LR, device="cpu", seed=seed)
    result = train(model, data, config, task=Task(target="a"))
    test = data.split("test")
    every = evaluate(model, data, test, task=Task(target="a"), seed=seed)
    k128 = evaluate(model, data, test, task=Task(target="a", candidates=128), seed=seed)
    clean = every.filter(pl.col("corrupted_modality") == "none")
    corrupt = every.filter(pl.col("corrupted_modality") != "none")
    return {
        "p": p, "seed": seed, "method": method, "best_epoch": result.best_epoch,
        "all": top1(every), "k128": top1(k128),
        "clean": top1(clean) if clean.height else float("nan"),
        "corrupt": top1(corrupt) if corrupt.height else float("nan"),
        "wall_s": time.perf_counter() - start,
    }


def _cell(values: np.ndarray) -> str:
    if np.all(np.isnan(values)):
        return "   —       "
    return f"{np.nanmean(values):.3f}±{np.nanstd(values):.3f}"


def _table(runs: pl.DataFrame) -> list[dict[str, float]]:
    rows = []
    print(f"{'p':>4} | {'symile all':>11} {'gated all':>11} | {'symile k128':>11} "
          f"{'gated k128':>11} | {'symile clean':>12} {'gated clean':>11} | "
          f"{'symile corr':>11} {'gated corr':>11}")
    for p in P_GRID:
        at = runs.filter(pl.col("p") == p)
        cols = {}
        for method, short in zip(METHODS, ("symile", "gated"), strict=True):
            mine = at.filter(pl.col("method") == method)
            for metric in ("all", "k128", "clean", "corrupt"):
                cols[f"{short}_{metric}"] = mine[metric].to_numpy()
        print(f"{p:>4.1f} | {_cell(cols['symile_all'])} {_cell(cols['gated_all'])} | "
              f"{_cell(cols['symile_k128'])} {_cell(cols['gated_k128'])} | "
              f" {_cell(cols['symile_clean'])} {_cell(cols['gated_clean'])} | "
              f"{_cell(cols['symile_corrupt'])} {_cell(cols['gated_corrupt'])}")
        rows.append({"p": p, **{k: float(np.nanmean(v)) if not np.all(np.isnan(v))
                                else float("nan") for k, v in cols.items()}})
    return rows


def main() -> dict[str, object]:
    return sweep(
        run_one, list(product(P_GRID, SEEDS, METHODS)),
        describe=f"synthetic_xnor n={N}, {EPOCHS} epochs, batch {BATCH}, lr {LR}, mlp dim "
                 f"{DIM}; test top-1 mean±std over seeds {list(SEEDS)} (all = among all "
                 f"{N // 10} test items; k128 = 1 true + 127 sampled; clean / corr = `all` "
                 f"on intact / corrupted examples)",
        table=_table,
        settings={"n": N, "epochs": EPOCHS, "batch": BATCH, "lr": LR, "dim": DIM,
                  "seeds": list(SEEDS)},
    )
