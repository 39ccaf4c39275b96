"""Seeds until decided at bench size (issue 22), printed by `python -m bench calibration`: the
default study's family under its default design (3 seeds, then 2 per look up to 9), against a
fixed 3-seed design (before), naive peeking (every look at α/m) and a fixed design at the cap.

Two models: the calibration one of `_verdict_calibration` (global null, ±δ, one contrast at
Δ = 10 points), and a realistic one fitted to a real run of the default study — its accuracies
per variant and condition and each variant's seed sd on the probit scale — stored in
bench/default_study_model.json and refitted with

    python -m bench._sequential_calibration fit reports/missing_modality

Under the realistic model the truth is the fitted accuracies: a false claim is one they
contradict (a wrong direction, or "equivalent" with |Δ| ≥ δ).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import polars as pl

from bench._verdict_calibration import BASE, _focal, _moderate
from robustlab.stats.components import probit_scale
from robustlab.stats.simulate import StudyModel
from robustlab.stats.until_decided import Design
from robustlab.testing.calibration import (
    Family,
    family_error,
    sequential_error,
    study_family,
    study_path,
)

MODEL_FILE = Path(__file__).parent / "default_study_model.json"
SETS = 300
DESIGN = Design((0, 1, 2), 9, 2)


def fit(folder: Path) -> dict:
    """Accuracy (V, C) and per-variant probit-scale seed sd from a run's predictions."""
    family = study_family(study_path("missing_modality"))
    pred = pl.read_parquet(folder / "predictions.parquet")
    conditions = [c.id for c in family.conditions]
    acc = np.zeros((len(family.variants), len(conditions)))
    psi = np.zeros_like(acc)
    for i, v in enumerate(family.variants):
        for j, c in enumerate(conditions):
            seeds = (pred.filter((pl.col("method") == v) & (pl.col("condition") == c))
                     .group_by("seed").agg(pl.col("correct").mean())["correct"].to_numpy())
            acc[i, j] = seeds.mean()
            psi[i, j] = seeds.var(ddof=1) / probit_scale(np.array(seeds.mean()), np.array(400))
    return {"variants": list(family.variants), "conditions": conditions,
            "accuracy": np.clip(acc, 0.002, 0.998).round(4).tolist(),
            "seed_sd": np.sqrt(psi.mean(axis=1)).round(4).tolist(), "source": str(folder)}


def _realistic(family: Family) -> tuple[StudyModel, np.ndarray] | None:
    if not MODEL_FILE.is_file():
        return None
    fitted = json.loads(MODEL_FILE.read_text())
    acc = np.asarray(fitted["accuracy"])
    # the fit divides by φ(Φ⁻¹(acc))²; in the probit model an accuracy moves by φ/√(1 + τ² +
    # κ²) per unit of latent seed effect, so the latent sd is the fitted one times that root
    latent = np.sqrt(1 + 1.0**2 + 0.5**2)  # StudyModel's default τ = 1, κ = 0.5
    model = StudyModel(acc, np.asarray(fitted["seed_sd"]) * latent, n=400)
    a, b, c = family.pairs.T
    return model, acc[a, c] - acc[b, c]


def measure() -> dict[str, float]:
    family = study_family(study_path("missing_modality"))
    rng = np.random.default_rng(2226)
    out: dict[str, float] = {}
    sd = _moderate(len(family.variants))
    for name, offsets in (("null", None), ("+δ", family.margin_offsets(1))):
        acc, truth = family.configuration(BASE, offsets)
        model = StudyModel(acc, sd, n=400)
        out |= _row(family, model, truth, name, rng)
    focal = _focal(family)
    acc, truth = family.configuration(BASE, focal=focal, effect=0.10)
    model = StudyModel(acc, np.full(15, 0.15), n=400)
    for key, rates in _designs(family, model, truth, rng).items():
        out[f"power_{key}"] = float(rates[0].better[focal])
    real = _realistic(family)
    if real is not None:
        model, truth = real
        out |= _row(family, model, truth, "real", rng)
    return out


def _designs(family: Family, model: StudyModel, truth: np.ndarray,
             rng: np.random.Generator) -> dict[str, tuple]:
    """(rates, seeds used) of each design on the same model."""
    fixed3 = family_error(family, model, truth, seeds=3, sets=SETS, rng=rng)
    cap = family_error(family, model, truth, seeds=DESIGN.max_seeds, sets=SETS, rng=rng)
    seq = sequential_error(family, model, truth, DESIGN, sets=SETS, rng=rng)
    naive = sequential_error(family, model, truth, DESIGN, sets=SETS, rng=rng, naive=True)
    v = len(np.unique(family.pairs[:, :2]))
    return {"fixed3": (fixed3, 3 * v), "naive": (naive, naive.seeds), "seq": (seq, seq.seeds),
            "cap": (cap, DESIGN.max_seeds * v)}


def _row(family: Family, model: StudyModel, truth: np.ndarray, name: str,
         rng: np.random.Generator) -> dict[str, float]:
    out = {}
    for key, (rates, seeds) in _designs(family, model, truth, rng).items():
        out[f"{name}_fwer_{key}"] = rates.fwer
        out[f"{name}_decided_{key}"] = float(rates.decided.sum())
        out[f"{name}_seeds_{key}"] = float(seeds)
    return out


def report(now: dict[str, float]) -> None:
    keys = ("fixed3", "naive", "seq", "cap")
    print(f"\nseeds until decided: the default study's family, design 3 → 9 seeds, 2 per look "
          f"(O'Brien–Fleming spending), {SETS} data sets per cell (MC sd of a rate near "
          f"0.05: {np.sqrt(0.05 * 0.95 / SETS):.3f})")
    print(f"{'':<44} {'fixed 3':>9} {'naive peek':>11} {'sequential':>11} {'fixed 9':>9}")
    rows = [("family-wise error, global null", "null_fwer"),
            ("family-wise error, every contrast at +δ", "+δ_fwer"),
            ("power, one contrast at Δ = 10 points", "power")]
    if "real_fwer_seq" in now:
        rows += [("fitted model: false claims (FWER)", "real_fwer"),
                 ("fitted model: contrasts decided (of 38)", "real_decided"),
                 ("fitted model: final runs of the family", "real_seeds")]
    rows += [("global null: final runs of the family", "null_seeds")]
    for label, prefix in rows:
        cells = [now.get(f"{prefix}_{k}", float("nan")) for k in keys]
        fmt = "{:>9.1f}" if "decided" in prefix or "seeds" in prefix else "{:>9.3f}"
        print(f"{label:<44} " + " ".join(fmt.format(c).rjust(10) for c in cells))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "fit":
        MODEL_FILE.write_text(json.dumps(fit(Path(sys.argv[2])), indent=1))
        print(f"wrote {MODEL_FILE}")
    else:
        sys.exit("usage: python -m bench._sequential_calibration fit REPORT_FOLDER")
