"""Calibration of the verdicts by simulation (issue 21): the family-wise error of the default
study's confirmatory family under the global null and at the margin ±δ, for equivalence as well
as difference claims, at 2, 3, 5 and 10 seeds, with seed-heterogeneous variants; the pooled
test's error when its homogeneity assumption is violated; power; and why the family is not
corrected with Holm.

The family is `studies/missing_modality.yaml`'s own (38 contrasts, δ = 5 points, n = 400);
the model is the probit one of `robustlab.stats.simulate` (shared example difficulty, a
variant × example effect, per-run seed effects). Rates carry their binomial Monte-Carlo sd; a
tolerance is α + 2 sd. `python -m bench calibration` runs the same cells with more data sets.
"""

from __future__ import annotations

import numpy as np
import pytest

from robustlab.stats.correction import holm
from robustlab.stats.simulate import StudyModel
from robustlab.testing.calibration import family_error, study_family, study_path

FAMILY = study_family(study_path("missing_modality"))
BASE = np.array([0.8, 0.7, 0.55, 0.3, 0.7, 0.55, 0.3])  # by condition: clean, b .25/.5/1, c
ALPHA = FAMILY.alpha
# seed sd (probit scale) per variant: log-uniform in [0.08, 0.3], fixed
MODERATE = np.exp(np.random.default_rng(1).uniform(np.log(0.08), np.log(0.3), 15))


def _tolerance(sets: int) -> float:
    return ALPHA + 2 * np.sqrt(ALPHA * (1 - ALPHA) / sets)


def test_the_family_is_the_default_studys() -> None:
    assert FAMILY.size == 38 and FAMILY.margin == 0.05 and len(FAMILY.variants) == 15


@pytest.mark.parametrize(("seeds", "sets"), [(2, 120), (3, 200), (5, 150), (10, 120)])
def test_family_wise_error_under_the_global_null(seeds: int, sets: int) -> None:
    acc, truth = FAMILY.configuration(BASE)
    rates = family_error(FAMILY, StudyModel(acc, MODERATE, n=400), truth, seeds=seeds,
                         sets=sets, rng=np.random.default_rng(100 + seeds))
    assert rates.fwer <= _tolerance(sets), (seeds, rates.fwer)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_family_wise_error_at_the_margin(sign: float) -> None:
    """Every contrast at Δ = ±δ: "equivalent" (and the opposite difference) is false."""
    acc, truth = FAMILY.configuration(BASE, FAMILY.margin_offsets(sign))
    assert np.allclose(np.abs(truth), FAMILY.margin)
    rates = family_error(FAMILY, StudyModel(acc, MODERATE, n=400), truth, seeds=5, sets=150,
                         rng=np.random.default_rng(7 if sign > 0 else 8))
    assert rates.fwer <= _tolerance(150), rates.fwer
    assert rates.decided.mean() > 0.01  # the test is not vacuous: claims are being made


@pytest.mark.parametrize("layout", ["spread", "one_noisy"])
def test_pooled_error_when_seed_variances_differ(layout: str) -> None:
    """Pooling assumes alike seed variances; here they are not: σ from 0.05 to 0.4 (8x), or one
    variant at 0.5 among variants at 0.08. Noisy units are left unpooled; the error holds."""
    if layout == "spread":
        sd = np.exp(np.random.default_rng(5).uniform(np.log(0.05), np.log(0.4), 15))
    else:
        sd = np.full(15, 0.08)
        sd[FAMILY.variants.index("symile_missing")] = 0.5
    acc, truth = FAMILY.configuration(BASE)
    rates = family_error(FAMILY, StudyModel(acc, sd, n=400), truth, seeds=3, sets=200,
                         rng=np.random.default_rng(21))
    assert rates.fwer <= _tolerance(200), (layout, rates.fwer)


def test_power_grows_with_seeds() -> None:
    """One contrast of the family (clip_missing vs clip, B 100 % missing) at Δ = 10 points;
    bench calibration has the curve."""
    focal = next(i for i, c in enumerate(FAMILY.contrasts)
                 if c.a == "clip_missing" and c.condition == "missing(b, fraction=1.0)")
    acc, truth = FAMILY.configuration(BASE, focal=focal, effect=0.10)
    power = {s: family_error(FAMILY, StudyModel(acc, np.full(15, 0.15), n=400), truth,
                             seeds=s, sets=100, rng=np.random.default_rng(s)).better[focal]
             for s in (3, 10)}
    assert power[10] > power[3] + 0.3, power


def test_holm_on_the_smaller_p_would_not_hold_the_error() -> None:
    """Why Bonferroni. Twenty contrasts, each at Δ = +δ with δ = 4 standard errors (normal
    estimates): each is called better, correctly, with a tiny p, which lifts Holm's threshold
    for the rest toward α; a contrast whose estimate dips below δ/2 (2.3 % each) then passes as
    "equivalent" — false at Δ = δ. Bonferroni's fixed α/m holds."""
    from scipy.special import ndtr

    rng = np.random.default_rng(3)
    sets, m, delta, se = 20_000, 20, 0.05, 0.0125
    est = rng.normal(delta, se, (sets, m))
    p_diff = 2 * ndtr(-np.abs(est) / se)
    p_equiv = np.maximum(ndtr((est - delta) / se), ndtr(-(est + delta) / se))
    equivalent = p_equiv < p_diff  # the claim Holm-on-min-p would make: false at Δ = δ
    p = np.minimum(p_diff, p_equiv)
    holm_false = np.mean([(holm(row) <= ALPHA)[eq].any() for row, eq in zip(p, equivalent,
                                                                           strict=True)])
    bonf_false = np.mean(((p_equiv <= ALPHA / m) | ((p_diff <= ALPHA / m) & (est < 0)))
                         .any(axis=1))
    assert bonf_false <= _tolerance(sets)
    assert holm_false > 0.3, holm_false  # 0.37 expected: 1 − (1 − 0.023)^20
