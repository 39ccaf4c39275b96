"""The Gated Symile paper's baselines on the headline-effects settings: test top-1 of CLIP,
Symile, Gated Symile, GRAM and TRIANGLE, mean ± std over 3 seeds.

- `symile_xor`: the settings of `tests/train/test_headline.py` (d = 5, p̂ = 1, n = 5000,
  3 epochs, batch 128, lr 1e-2, mlp dim 32); retrieve b among all 2^d = 32 vectors.
- `synthetic_xnor`: the settings of `bench/bench_xnor_sweep.py` (n = 5000, 8 epochs, batch
  128, lr 1e-2, mlp dim 64, corruption p ∈ {0, 0.2, …, 1}); retrieve A from (B, C) among all
  500 test items (`all`), and the same on the intact examples (`clean`).
Every method gets the same fixed settings and its default options; nothing is tuned per
method or per cell (GRAM, for one, needs other settings to learn XNOR: see
docs/benchmarks/papers.md).
Runs go to 2 worker processes (one torch thread each).

    .venv/bin/python -m bench baselines
"""

from __future__ import annotations

import time
from itertools import product

import numpy as np
import polars as pl

from bench._workers import sweep
from bench.bench_xnor_sweep import BATCH, LR, P_GRID, SEEDS, run_one

METHODS = ("clip", "symile", "gated_symile", "gram", "triangle")
XOR = {"d": 5, "p_hat": 1.0, "n": 5000, "epochs": 3, "batch": 128, "lr": 1e-2, "dim": 32}


def run_xor(seed: int, method: str) -> dict[str, float | int | str]:
    """Train one method on symile_xor with `seed`; test top-1 retrieving b among the bank."""
    from robustlab.data import DATASETS
    from robustlab.evaluate import Task, evaluate, top1
    from robustlab.methods import ENCODERS
    from robustlab.methods import METHODS as REGISTRY
    from robustlab.train import TrainConfig, train

    start = time.perf_counter()
    data = DATASETS.get("symile_xor")(d=XOR["d"], n=XOR["n"], p_hat=XOR["p_hat"]).build(seed)
    cls = REGISTRY.get(method)
    encoder = ENCODERS.get("mlp")(dim=XOR["dim"], depth=2, hidden=XOR["dim"])
    model = cls.build(cls.Options(), data.dims, encoder, seed=seed)
    config = TrainConfig(epochs=XOR["epochs"], batch_size=XOR["batch"], lr=XOR["lr"],
                         device="cpu", seed=seed)
    result = train(model, data, config, task=Task(target="b"))
    frame = evaluate(model, data, data.split("test"), task=Task(target="b"), seed=seed)
    return {"data": "symile_xor", "p": float("nan"), "seed": seed, "method": method,
            "best_epoch": result.best_epoch, "all": top1(frame), "clean": float("nan"),
            "wall_s": time.perf_counter() - start}


def run(data: str, p: float, seed: int, method: str) -> dict[str, float | int | str]:
    if data == "symile_xor":
        return run_xor(seed, method)
    out = run_one(p, seed, method)
    return {"data": data, "p": p, "seed": seed, "method": method,
            "best_epoch": out["best_epoch"], "all": out["all"], "clean": out["clean"],
            "wall_s": out["wall_s"]}


def _cell(values: np.ndarray) -> str:
    if values.size == 0 or np.all(np.isnan(values)):
        return "—"
    return f"{np.nanmean(values):.3f} ± {np.nanstd(values):.3f}"


def _table(runs: pl.DataFrame) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    xor = runs.filter(pl.col("data") == "symile_xor")
    print(f"\nsymile_xor (d = {XOR['d']}, chance 1/{2 ** XOR['d']}): test top-1")
    for method in METHODS:
        cell = _cell(xor.filter(pl.col("method") == method)["all"].to_numpy())
        print(f"  {method:>13}: {cell}")
        rows.append({"data": "symile_xor", "method": method, "all": cell})
    for metric in ("all", "clean"):
        print(f"\nsynthetic_xnor, test top-1 `{metric}` (rows: method, columns: p)")
        print(f"{'':>14}" + "".join(f"{p:>16.1f}" for p in P_GRID))
        for method in METHODS:
            mine = runs.filter((pl.col("data") == "synthetic_xnor") & (pl.col("method") == method))
            cells = [_cell(mine.filter(pl.col("p") == p)[metric].to_numpy()) for p in P_GRID]
            print(f"{method:>14}" + "".join(f"{c:>16}" for c in cells))
            rows.append({"data": "synthetic_xnor", "metric": metric, "method": method,
                         **{f"p={p}": c for p, c in zip(P_GRID, cells, strict=True)}})
    return rows


def main() -> dict[str, object]:
    jobs = [("symile_xor", float("nan"), s, m) for s, m in product(SEEDS, METHODS)]
    jobs += [("synthetic_xnor", p, s, m) for p, s, m in product(P_GRID, SEEDS, METHODS)]
    return sweep(
        run, jobs,
        describe=f"seeds {list(SEEDS)}; symile_xor {XOR}; synthetic_xnor as bench_xnor_sweep "
                 f"(batch {BATCH}, lr {LR}); same settings for every method",
        table=_table,
        settings={"xor": XOR, "xnor": "bench_xnor_sweep", "seeds": list(SEEDS),
                  "methods": list(METHODS)},
    )
