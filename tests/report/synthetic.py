"""An honest synthetic results folder for the report tests and the docs example.

Nothing here is trained: correctness is drawn from known probabilities so the tests know the
truth. Three methods x three seeds x six conditions x `n` test examples, with one planted hidden
failure: `gated_symile` beats `clip` on average — significantly, which a hidden failure needs
(issue 10) — but is much worse on the slice `site == west`.
Methods share one uniform draw per (seed, condition, example), as paired real results are
correlated (an easy example is easy for everyone).

Run as a script to write a folder: `python tests/report/synthetic.py OUT_DIR`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from robustlab.results import (
    MANIFEST_FILE,
    PREDICTIONS_FILE,
    TRIALS_FILE,
    atomic_write_json,
    atomic_write_parquet,
)

METHODS = ("clip", "symile", "gated_symile")
SEEDS = (0, 1, 2)
SITES = ("north", "south", "east", "west")
FAILING_SITE = "west"  # where gated_symile fails (planted)
# (condition id, cond_op, cond_modality, cond_level, fraction of examples perturbed)
CONDITIONS = (
    ("clean", "clean", "none", 0.0, 0.0),
    ("missing(b, fraction=0.5)", "missing", "b", 0.5, 0.5),
    ("missing(b, fraction=1.0)", "missing", "b", 1.0, 1.0),
    ("gaussian_noise(c, severity=1)", "gaussian_noise", "c", 1.0, 1.0),
    ("gaussian_noise(c, severity=2)", "gaussian_noise", "c", 2.0, 1.0),
    ("gaussian_noise(c, severity=3)", "gaussian_noise", "c", 3.0, 1.0),
)
# Logit of P(correct) on a clean example, and the logit lost per unit of condition level on a
# perturbed example: gated_symile is the strongest on average and the most robust.
BASE_LOGIT = {"clip": 0.4, "symile": 1.0, "gated_symile": 2.2}
DROP_PER_LEVEL = {"clip": 0.5, "symile": 0.9, "gated_symile": 0.35}
FAILURE_LOGIT = -3.0  # added to gated_symile on FAILING_SITE


@dataclass(frozen=True)
class Names:
    """Display names, replaceable so a test can plant hostile strings in methods and slices."""

    methods: tuple[str, ...] = METHODS
    sites: tuple[str, ...] = SITES
    study: str = "synthetic_fixture"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def predictions(n: int, seed: int, names: Names,
                failure_logit: float = FAILURE_LOGIT) -> pl.DataFrame:
    """The long predictions frame (DESIGN §9) with metadata columns `site` and `label`;
    `failure_logit=0` plants no failure."""
    rng = np.random.default_rng(seed)
    site_idx = rng.integers(0, len(SITES), size=n)  # (n,) fixed per example
    label = rng.integers(0, 3, size=n)
    difficulty = rng.normal(0.0, 0.7, size=n)  # shared by every method: pairs are correlated
    # Which examples a condition perturbs depends on the study seed, not the training seed.
    perturbed_by = {c[0]: rng.random(n) < c[4] for c in CONDITIONS}
    frames = []
    for s in SEEDS:
        for cond_id, cond_op, cond_mod, level, _ in CONDITIONS:
            perturbed = perturbed_by[cond_id]
            u = rng.random(n)  # one draw per (seed, condition, example), shared by methods
            for m, method in enumerate(METHODS):
                logit = BASE_LOGIT[method] - difficulty + rng.normal(0.0, 0.1)  # seed jitter
                logit = logit - perturbed * DROP_PER_LEVEL[method] * level
                if method == "gated_symile":
                    logit = logit + failure_logit * (site_idx == SITES.index(FAILING_SITE))
                correct = u < _sigmoid(logit)
                frames.append(_rows(names.methods[m], s, (cond_id, cond_op, cond_mod, level),
                                    correct, perturbed, site_idx, label, names, rng))
    return pl.concat(frames)


def _rows(method: str, seed: int, cond: tuple[str, str, str, float], correct: np.ndarray,
          perturbed: np.ndarray, site_idx: np.ndarray, label: np.ndarray, names: Names,
          rng: np.random.Generator) -> pl.DataFrame:
    cond_id, cond_op, cond_mod, level = cond
    n = correct.shape[0]
    rank = np.where(correct, 1, 2 + rng.geometric(0.3, size=n))
    margin = np.where(correct, rng.gamma(2.0, 0.5, size=n), -rng.gamma(2.0, 0.5, size=n))
    return pl.DataFrame({
        "method": [method] * n,
        "seed": np.full(n, seed, dtype=np.int64),
        "condition": [cond_id] * n,
        "cond_op": [cond_op] * n,
        "cond_modality": [cond_mod] * n,
        "cond_level": np.full(n, level),
        "example_id": np.arange(n, dtype=np.int64),
        "correct": correct,
        "rank": rank.astype(np.int64),
        "score_margin": margin,
        "perturbed": perturbed,
        "perturbed_modality": np.where(perturbed, cond_mod, "none"),
        "op": np.where(perturbed, cond_op, "none"),
        "severity": np.where(perturbed, level, 0.0),
        "site": np.asarray(names.sites)[site_idx],
        "label": label.astype(np.int64),
    })


def trials(seed: int, names: Names, epochs: int = 6, per_method: int = 4) -> pl.DataFrame:
    """One row per tuning trial: ASHA-style histories (stopped trials are shorter), one failure."""
    rng = np.random.default_rng(seed + 1)
    rows = []
    for m, method in enumerate(METHODS):
        for t in range(per_method):
            status = "failed" if (m, t) == (2, 3) else ("stopped" if t % 2 else "completed")
            length = {"completed": epochs, "stopped": 2, "failed": 1}[status]
            ceiling = _sigmoid(np.array(BASE_LOGIT[method] + rng.normal(0, 0.3)))
            curve = ceiling * (1 - np.exp(-(np.arange(length) + 1) / 2.0))  # (length,)
            history = np.maximum.accumulate(curve).round(4).tolist()
            rows.append({
                "method": names.methods[m], "trial_id": f"{method}_{t:05d}",
                "config": json.dumps({"lr": float(10 ** rng.uniform(-4, -2)),
                                      "temperature": float(rng.uniform(0.05, 0.5))}),
                "status": status, "metric": history[-1], "metric_history": history,
                "epochs": length, "wall_time_s": float(length * rng.uniform(3, 5)),
                "cpu": 1.0, "gpu": 0.0,
                "error": "loss became NaN at epoch 1" if status == "failed" else None,
            })
    return pl.DataFrame(rows, schema_overrides={"error": pl.String})


def manifest(names: Names, trial_frame: pl.DataFrame, n: int,
             n_resamples: int | None) -> dict[str, object]:
    """A manifest shaped like the study runner's, with fixed times so output is reproducible."""
    methods = {}
    for name in names.methods:
        mine = trial_frame.filter(pl.col("method") == name)
        best = mine.filter(pl.col("status") != "failed").sort("metric", descending=True).row(
            0, named=True)
        methods[name] = {
            "registry": METHODS[names.methods.index(name)], "options": {},
            "best_config": json.loads(best["config"]), "param_count": 200_000 + 1000 * len(name),
            "budget_used": {"trials": mine.height, "epochs": int(mine["epochs"].sum()),
                            "wall_time_s": float(mine["wall_time_s"].sum())},
        }
    study = {
        "name": names.study, "seed": 0,
        "data": {"kind": "synthetic fixture (correctness drawn, no model trained)", "n": n},
        "task": {"protocol": "retrieval", "target": "a"},
        "methods": {n: {} for n in names.methods},
        "budget": {"trials": 4, "epochs": 6, "scheduler": "asha", "metric": "val_top1"},
        "final": {"seeds": list(SEEDS)},
        "eval_grid": [{"op": "missing", "modality": ["b"], "fraction": [0.5, 1.0]},
                      {"op": "gaussian_noise", "modality": ["c"], "severity": [1, 2, 3]}],
        "report": {"slices": ["perturbed_modality", "site", "label"], "alpha": 0.05,
                   "correction": "holm",
                   # every pair: the planted failure is against clip, the rest are decoys
                   "contrasts": [{"question": "Which method holds up?",
                                  "pairs": [[a, b] for i, a in enumerate(names.methods)
                                            for b in names.methods[i + 1:]]}]},
    }
    if n_resamples is not None:  # tests use fewer resamples than the default to stay fast
        study["report"]["n_resamples"] = n_resamples
    return {
        "study": study, "seeds": list(SEEDS), "git_sha": "0000000 (synthetic)",
        "versions": {"robustlab": "0.1.0", "python": "3.11"},
        "hardware": {"cpu_count": 2, "gpu": None},
        "started_at": "2026-01-01T00:00:00+00:00", "finished_at": "2026-01-01T00:05:00+00:00",
        "notes": ["synthetic fixture: the trials below were drawn, not run"],
        "methods": methods,
    }


def write_results(out: Path, n: int = 600, seed: int = 0, names: Names | None = None,
                  n_resamples: int | None = None, failure_logit: float = FAILURE_LOGIT) -> Path:
    """Write predictions.parquet, trials.parquet and manifest.json into `out`; return `out`."""
    names = names or Names()
    trial_frame = trials(seed, names)
    preds = predictions(n, seed, names, failure_logit)
    man = manifest(names, trial_frame, n, n_resamples)
    atomic_write_parquet(preds, out / PREDICTIONS_FILE)
    atomic_write_parquet(trial_frame, out / TRIALS_FILE)
    atomic_write_json(man, out / MANIFEST_FILE)
    return out


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python tests/report/synthetic.py OUT_DIR", file=sys.stderr)
        return 2
    write_results(Path(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
