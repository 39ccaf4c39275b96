"""The verdicts' calibration at bench size (issue 21), printed by `python -m bench calibration`:
the default study's confirmatory family under the global null and at ±δ, power for one of its
contrasts at Δ = 10 points, and the seeds at which that power reaches 0.8 — the procedure
before issue 21 (every pair of every condition, Holm, "tied" when not significant) beside the
verdicts (declared contrasts, Bonferroni, three-way, pooled seed variances).

Model (`robustlab.stats.simulate`): the default study's 15 variants, 7 conditions and n = 400
test examples; mean accuracy per condition BASE (clean .8, 25 / 50 / 100 % missing .7 / .55 /
.3); seed sd on the probit scale log-uniform in [0.08, 0.3] per variant (seed-heterogeneous);
example difficulty sd 1, variant × example sd 0.5. "Before" counts a false claim when a pair is
called significant with Δ = 0, or shown "tied" (read: equal) with |Δ| ≥ δ.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from robustlab import stats
from robustlab.stats.simulate import StudyModel, simulate, to_frame
from robustlab.testing.calibration import Family, family_error, study_family, study_path

BASE = np.array([0.8, 0.7, 0.55, 0.3, 0.7, 0.55, 0.3])
SETS = 600  # per "after" cell; the pre-issue procedure is slow (735 pairs): BEFORE_SETS
BEFORE_SETS = 100
POWER_SETS = 300
SEEDS = (2, 3, 5, 10)


def _moderate(v: int) -> np.ndarray:
    return np.exp(np.random.default_rng(1).uniform(np.log(0.08), np.log(0.3), v))


def _focal(family: Family) -> int:
    return next(i for i, c in enumerate(family.contrasts)
                if c.a == "clip_missing" and c.condition == "missing(b, fraction=1.0)")


def _before(family: Family, acc: np.ndarray, truth_pairs, seeds: int, sets: int,
            rng: np.random.Generator) -> tuple[float, float]:
    """(share of data sets with a false claim, share where the focal pair is called
    significantly better) under the pre-issue verdict: Holm over every pair × condition; per
    condition "best" (highest accuracy) and "tied" (not significantly below it). False: a
    significant pair with Δ = 0, or a method shown tied with the best while |Δ| ≥ δ."""
    conditions = [c.id for c in family.conditions]
    model = StudyModel(acc, _moderate(len(family.variants)), n=400)
    a_focal, b_focal, c_focal = family.pairs[_focal(family)]
    focal = (family.variants[a_focal], family.variants[b_focal], conditions[c_focal])
    false = power = 0
    for _ in range(sets):
        pred = to_frame(simulate(model, seeds, rng), list(family.variants), conditions)
        table = stats.pairwise_table(pred, ["condition"], correction="holm")
        observed = pred.group_by("condition", "method").agg(pl.col("correct").mean())
        wrong = False
        for row in table.iter_rows(named=True):
            truth = truth_pairs(row["method_a"], row["method_b"], row["condition"])
            wrong |= bool(row["significant"] and truth == 0)
        for condition in conditions:
            here = observed.filter(pl.col("condition") == condition).sort("correct")
            best = here["method"][-1]
            mine = table.filter((pl.col("condition") == condition)
                                & ((pl.col("method_a") == best) | (pl.col("method_b") == best)))
            for row in mine.filter(~pl.col("significant")).iter_rows(named=True):
                truth = truth_pairs(row["method_a"], row["method_b"], condition)
                wrong |= abs(truth) >= family.margin - 1e-12
        false += wrong
        row = table.filter(pl.col("method_a").is_in(focal[:2]) & pl.col("method_b")
                           .is_in(focal[:2]) & (pl.col("condition") == focal[2])).row(0, named=True)
        sign = 1.0 if row["method_a"] == focal[0] else -1.0
        power += bool(row["significant"] and sign * row["delta"] > 0)
    return false / sets, power / sets


def _truth_fn(family: Family, acc: np.ndarray):
    index = {v: i for i, v in enumerate(family.variants)}
    cond = {c.id: i for i, c in enumerate(family.conditions)}
    return lambda a, b, c: acc[index[a], cond[c]] - acc[index[b], cond[c]]


def measure() -> dict[str, float]:
    family = study_family(study_path("missing_modality"))
    rng = np.random.default_rng(2126)
    sd = _moderate(len(family.variants))
    out: dict[str, float] = {}
    configs = {"null": None, "+δ": family.margin_offsets(1), "-δ": family.margin_offsets(-1)}
    for name, offsets in configs.items():
        acc, truth = family.configuration(BASE, offsets)
        for seeds in SEEDS if name == "null" else (3,):
            rates = family_error(family, StudyModel(acc, sd, n=400), truth, seeds=seeds,
                                 sets=SETS, rng=rng)
            out[f"fwer_{name}_{seeds}"] = rates.fwer
        out[f"before_fwer_{name}_3"] = _before(family, acc, _truth_fn(family, acc), 3,
                                               BEFORE_SETS, rng)[0]
    out |= _violations(family, rng)
    out |= _power(family, rng)
    return out


def _violations(family: Family, rng: np.random.Generator) -> dict[str, float]:
    """Pooling under violated homogeneity, and the single-contrast size without correction."""
    acc, truth = family.configuration(BASE)
    spread = np.exp(np.random.default_rng(5).uniform(np.log(0.05), np.log(0.4), 15))
    noisy = np.full(15, 0.08)
    noisy[family.variants.index("symile_missing")] = 0.5
    out = {}
    for name, sd in (("spread", spread), ("one_noisy", noisy)):
        for pool in (True, False):
            rates = family_error(family, StudyModel(acc, sd, n=400), truth, seeds=3, sets=SETS,
                                 rng=rng, pool_seeds=pool)
            out[f"violated_{name}_{'pooled' if pool else 'separate'}"] = rates.fwer
    equal = StudyModel(acc, np.full(15, 0.15), n=400)
    rates = family_error(family, equal, truth, seeds=3, sets=SETS // 2, rng=rng,
                         level=np.full(family.size, family.alpha))
    out["single_size_3"] = float(rates.per_contrast.mean())
    return out


def _power(family: Family, rng: np.random.Generator) -> dict[str, float]:
    focal = _focal(family)
    acc, truth = family.configuration(BASE, focal=focal, effect=0.10)
    sd = np.full(15, 0.15)
    out = {}
    for seeds in (3, 5, 8, 10, 12, 15):
        rates = family_error(family, StudyModel(acc, sd, n=400), truth, seeds=seeds,
                             sets=POWER_SETS, rng=rng)
        out[f"power_{seeds}"] = float(rates.better[focal])
    out["before_power_3"] = _before(family, acc, _truth_fn(family, acc), 3, BEFORE_SETS,
                                    rng)[1]
    return out


def report(now: dict[str, float]) -> None:
    sd = lambda p, n: np.sqrt(max(p, 0.05) * (1 - max(p, 0.05)) / n)  # noqa: E731
    print("\nverdicts of the default study's confirmatory family (38 contrasts, δ = 5 points, "
          "n = 400, α = 0.05)")
    print(f"{'case':<58} {'before':>8} {'after':>8} {'MC sd':>7}")
    for name in ("null", "+δ", "-δ"):
        print(f"{'family-wise error, ' + name + ', 3 seeds':<58} "
              f"{now[f'before_fwer_{name}_3']:8.3f} {now[f'fwer_{name}_3']:8.3f} "
              f"{sd(now[f'fwer_{name}_3'], SETS):7.3f}")
    for seeds in SEEDS:
        if seeds != 3:
            print(f"{f'family-wise error, null, {seeds} seeds':<58} {'—':>8} "
                  f"{now[f'fwer_null_{seeds}']:8.3f} {sd(now[f'fwer_null_{seeds}'], SETS):7.3f}")
    for name in ("spread", "one_noisy"):
        for kind in ("pooled", "separate"):
            key = f"violated_{name}_{kind}"
            print(f"{f'unequal seed variances ({name}), {kind}: FWER':<58} {'—':>8} "
                  f"{now[key]:8.3f} {sd(now[key], SETS):7.3f}")
    print(f"{'one contrast uncorrected (α = .05), 3 seeds: size':<58} {'—':>8} "
          f"{now['single_size_3']:8.3f}")
    print(f"{'power, one contrast at Δ = 10 points, 3 seeds':<58} "
          f"{now['before_power_3']:8.3f} {now['power_3']:8.3f} "
          f"{sd(now['power_3'], POWER_SETS):7.3f}")
    curve = ", ".join(f"{s}: {now[f'power_{s}']:.2f}" for s in (3, 5, 8, 10, 12, 15))
    reach = next((s for s in (3, 5, 8, 10, 12, 15) if now[f"power_{s}"] >= 0.8), None)
    print(f"  power by seeds ({curve}); ≥ 0.8 from {reach if reach else '> 15'} seeds")
