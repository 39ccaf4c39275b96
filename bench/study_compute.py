"""A study's compute and wall time from its results folder, and the ratio between runs.

Compute = the sum over variants of the tuning trials' wall times and the final runs' wall
times (each trial and final run takes one core: `resources.cpu: 1`), as the manifest records
them (`methods.<variant>.budget.trial_wall_time_s` = the sum of `trials.parquet`'s
`wall_time_s`, `final_wall_time_s`); wall = the manifest's `wall_time_s`. Per variant
family (the variant name without `_missing` / `_missing_hard`), then the totals.

    .venv/bin/python bench/study_compute.py BEFORE_DIR AFTER_DIR [...]
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import polars as pl


def compute(folder: Path) -> tuple[dict[str, float], float]:
    """(family -> seconds of trial + final-run compute, the study's wall seconds)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    trials = pl.read_parquet(folder / "trials.parquet")
    families: dict[str, float] = defaultdict(float)
    for name, record in manifest["methods"].items():
        budget = record["budget"]
        trial_s = float(trials.filter(pl.col("method") == name)["wall_time_s"].sum())
        if abs(trial_s - budget["trial_wall_time_s"]) > 1e-6 * max(1.0, trial_s):
            raise ValueError(f"{folder}: trials.parquet and the manifest disagree on {name}")
        families[name.split("_missing")[0]] += trial_s + budget["final_wall_time_s"]
    return dict(families), float(manifest["wall_time_s"])


def main(folders: list[str]) -> None:
    runs = [(Path(f), *compute(Path(f))) for f in folders]
    names = sorted({k for _, fam, _ in runs for k in fam})
    print(f"{'family':>14} | " + " | ".join(f"{p.name[-20:]:>20}" for p, _, _ in runs))
    for name in names:
        print(f"{name:>14} | " + " | ".join(f"{fam.get(name, 0.0):>19.1f}s" for _, fam, _ in runs))
    totals = [sum(fam.values()) for _, fam, _ in runs]
    print(f"{'compute':>14} | " + " | ".join(f"{t:>19.1f}s" for t in totals))
    print(f"{'wall':>14} | " + " | ".join(f"{w:>19.1f}s" for _, _, w in runs))
    for (path, _, wall), total in zip(runs[1:], totals[1:], strict=True):
        print(f"{path.name}: compute {total / totals[0]:.3f}x, wall {wall / runs[0][2]:.3f}x "
              f"of {runs[0][0].name}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
