"""The PID probe table: which methods' frozen features carry redundant and synergistic labels.

For each `pid` setting (redundancy, synergy), latent block size L ∈ {1, 2, 8} and seed, train
every method below on the same data (self-supervised; labels unused) and fit a linear probe
on its frozen features (the `probe` protocol); report test balanced accuracy, mean ± std over
seeds. Chance is 0.5.

What to expect, and why:
- redundancy: the label is in the shared block every modality sees; all methods should be
  close and well above chance.
- synergy: y = [⟨r₁, z_a⟩ · ⟨r₂, z_b⟩ > 0], an XOR of two signs. CLIP's and Symile's probe
  features are per-modality embeddings side by side, so a linear probe is additive in the
  modalities and sits at chance by construction. CoMM's fused Z (and COrAL's [s, u_a, u_b,
  u_c]) can mix a and b; whether a *linear* probe finds the XOR depends on L: the label is
  one direction of each L-dimensional block, and the larger L, the more of the fused
  representation is spent on everything else.
Training settings are fixed up front and the same for every method and cell.

    .venv/bin/python -m bench pid_probe
"""

from __future__ import annotations

import time
from itertools import product

import numpy as np
import polars as pl

from bench._workers import sweep

SETTINGS = ("redundancy", "synergy")
LATENT_DIMS = (1, 2, 8)
SEEDS = (0, 1, 2)
METHODS = ("clip", "symile", "comm", "coral")
N = 3000  # examples (80/10/10 split)
EPOCHS = 8
BATCH = 128
LR = 3e-3
DIM = 32  # encoder: mlp, depth 2, hidden = dim = 32


def input_dim(latent_dim: int) -> int:
    """Modality width: 4x the two blocks a modality sees, at least 8 (pid needs >= 2L)."""
    return max(8, 4 * latent_dim)


def run_one(setting: str, latent_dim: int, seed: int, method: str) -> dict[str, object]:
    """Train `method` on pid(setting, latent_dim) with `seed`; probe test balanced accuracy."""
    from robustlab.data import DATASETS
    from robustlab.evaluate import Task, balanced_accuracy, evaluate
    from robustlab.methods import ENCODERS, METHODS
    from robustlab.train import TrainConfig, train

    start = time.perf_counter()
    data = DATASETS.get("pid")(setting=setting, n=N, latent_dim=latent_dim,
                               dim=input_dim(latent_dim)).build(seed)
    cls = METHODS.get(method)
    encoder = ENCODERS.get("mlp")(dim=DIM, depth=2, hidden=DIM)
    options = cls.for_protocol(cls.Options(), "probe")  # CoMM, COrAL: the papers' losses
    model = cls.build(options, data.dims, encoder, seed=seed)
    probe = Task(protocol="probe")
    config = TrainConfig(epochs=EPOCHS, batch_size=BATCH, lr=LR, device="cpu", seed=seed)
    train(model, data, config, task=probe)
    frame = evaluate(model, data, data.split("test"), task=probe, seed=seed,
                     probe_train=data.split("train"))
    return {"setting": setting, "latent_dim": latent_dim, "seed": seed, "method": method,
            "balanced_accuracy": balanced_accuracy(frame),
            "wall_s": time.perf_counter() - start}


def _table(runs: pl.DataFrame) -> list[dict[str, object]]:
    print(f"{'setting':>10} {'L':>2} | " + " ".join(f"{m:>12}" for m in METHODS))
    rows: list[dict[str, object]] = []
    for setting, latent_dim in product(SETTINGS, LATENT_DIMS):
        at = runs.filter((pl.col("setting") == setting) & (pl.col("latent_dim") == latent_dim))
        cells = {}
        for method in METHODS:
            acc = at.filter(pl.col("method") == method)["balanced_accuracy"].to_numpy()
            cells[method] = (float(np.mean(acc)), float(np.std(acc)))
        print(f"{setting:>10} {latent_dim:>2} | "
              + " ".join(f"{m:.3f}±{s:.3f}" for m, s in cells.values()))
        rows.append({"setting": setting, "latent_dim": latent_dim,
                     **{f"{k}_mean": v[0] for k, v in cells.items()},
                     **{f"{k}_std": v[1] for k, v in cells.items()}})
    return rows


def main() -> dict[str, object]:
    return sweep(
        run_one, list(product(SETTINGS, LATENT_DIMS, SEEDS, METHODS)),
        describe=f"pid n={N}, {EPOCHS} epochs, batch {BATCH}, lr {LR}, mlp dim {DIM}; "
                 f"linear-probe test balanced accuracy, mean±std over seeds {list(SEEDS)} "
                 f"(chance 0.5)",
        table=_table,
        settings={"n": N, "epochs": EPOCHS, "batch": BATCH, "lr": LR, "dim": DIM,
                  "seeds": list(SEEDS)},
    )
