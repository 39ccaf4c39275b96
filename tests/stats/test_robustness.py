"""Relative and effective robustness: definitions, CIs, validation."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from robustlab.stats import effective_robustness, guard_effective_robustness, relative_robustness
from robustlab.stats.robustness import trapezoid_weights

LEVELS = np.array([0.0, 1.0, 2.0, 4.0])


def _curve(rng: np.random.Generator, probs, n: int = 400, seeds: int | None = None):
    shape = (len(probs), n) if seeds is None else (len(probs), seeds, n)
    p = np.asarray(probs).reshape((-1,) + (1,) * (len(shape) - 1))
    return rng.random(shape) < p


def test_trapezoid_weights_hand_checked() -> None:
    # x = 0, .25, .5, 1 → gaps .25 .25 .5 → weights .125 .25 .375 .25 (sum 1)
    np.testing.assert_allclose(trapezoid_weights(LEVELS), [0.125, 0.25, 0.375, 0.25])


def test_relative_robustness_is_the_area_under_the_accuracy_curve() -> None:
    correct = _curve(np.random.default_rng(0), [0.9, 0.8, 0.6, 0.3])
    iv = relative_robustness(LEVELS, correct, rng=np.random.default_rng(0))
    area = np.trapezoid(correct.mean(axis=1), LEVELS / LEVELS[-1])
    assert iv.estimate == pytest.approx(area)
    assert iv.low < area < iv.high and iv.method == "bca"


def test_flat_curve_has_area_equal_to_its_accuracy() -> None:
    row = np.random.default_rng(1).random(300) < 0.7
    iv = relative_robustness(LEVELS, np.stack([row] * 4), rng=np.random.default_rng(0))
    assert iv.estimate == pytest.approx(row.mean())


def test_effective_robustness_matches_multibench_gap_definition() -> None:
    rng = np.random.default_rng(2)
    f = _curve(rng, [0.9, 0.85, 0.8, 0.7])
    r = _curve(rng, [0.8, 0.6, 0.5, 0.3])
    iv = effective_robustness(LEVELS, f, r, rng=np.random.default_rng(0))
    fa, ra = f.mean(axis=1), r.mean(axis=1)
    beta = ra + (fa[0] - ra[0])  # reference shifted to f's clean accuracy (MultiBench)
    assert iv.estimate == pytest.approx(np.trapezoid(fa - beta, LEVELS / LEVELS[-1]))
    assert iv.low > 0  # f degrades much less than r: clearly positive


def test_reference_against_itself_is_exactly_zero() -> None:
    f = _curve(np.random.default_rng(3), [0.9, 0.7, 0.5, 0.2], seeds=2)
    iv = effective_robustness(LEVELS, f, f, rng=np.random.default_rng(0))
    assert (iv.estimate, iv.low, iv.high) == (0.0, 0.0, 0.0)


def test_seeds_give_the_crossed_interval() -> None:
    f = _curve(np.random.default_rng(4), [0.9, 0.7, 0.5, 0.2], seeds=3)
    iv = relative_robustness(LEVELS, f, rng=np.random.default_rng(0))
    assert (iv.n_seeds, iv.method) == (3, "crossed_t")
    assert iv.estimate == pytest.approx(np.trapezoid(f.mean(axis=(1, 2)), LEVELS / 4))
    r = _curve(np.random.default_rng(5), [0.8, 0.6, 0.5, 0.3], seeds=2)
    unpaired = effective_robustness(LEVELS, f, r, rng=np.random.default_rng(0), pair_seeds=False)
    assert unpaired.low < unpaired.estimate < unpaired.high
    assert unpaired.method == "crossed_cc"  # r has 2 seeds: a seed variance on 1 df


@pytest.mark.parametrize(
    ("levels", "rows", "match"),
    [([1.0, 2.0, 3.0, 4.0], 4, "start at 0.0"), ([0.0, 2.0, 2.0, 4.0], 4, "increase"),
     ([0.0], 1, ">= 2"), ([0.0, 1.0, 2.0], 4, "L = len")],
)
def test_bad_levels_are_named(levels, rows: int, match: str) -> None:
    correct = np.ones((rows, 10), bool)
    with pytest.raises(ValueError, match=match):
        relative_robustness(np.array(levels), correct, rng=np.random.default_rng(0))


def _frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    rob = pl.DataFrame({"cond_op": ["noise"] * 3, "cond_modality": ["b"] * 3,
                        "method": ["ref", "good", "guess"],
                        "effective_robustness": [0.0, 0.1, 0.3],
                        "er_ci_low": [0.0, 0.05, 0.1], "er_ci_high": [0.0, 0.15, 0.5]})
    clean = pl.DataFrame({"method": ["ref", "good", "guess"], "ci_low": [0.6, 0.7, 0.08]})
    return rob, clean


def test_effective_robustness_is_withheld_near_chance() -> None:
    rob, clean = _frames()
    out = guard_effective_robustness(rob, clean, reference="ref", chance=0.1)
    assert out["er_note"].to_list() == ["", "", "near chance"]  # 0.08 ≤ 0.1 reaches chance
    assert out["effective_robustness"].to_list() == [0.0, 0.1, None]
    assert out["er_ci_high"].to_list() == [0.0, 0.15, None]
    ref = guard_effective_robustness(rob, clean.with_columns(ci_low=0.05), reference="ref",
                                     chance=0.1)
    assert ref["er_note"].to_list() == ["near chance"] * 3
    weak_ref = guard_effective_robustness(
        rob, clean.with_columns(ci_low=pl.Series([0.05, 0.7, 0.6])), reference="ref", chance=0.1)
    assert weak_ref["er_note"].to_list() == ["near chance", "reference near chance",
                                             "reference near chance"]
    unknown = guard_effective_robustness(rob, clean, reference="ref", chance=None)
    assert set(unknown["er_note"]) == {"chance unknown"}
    assert unknown["effective_robustness"].to_list() == [0.0, 0.1, 0.3]
    with pytest.raises(ValueError, match="chance"):
        guard_effective_robustness(rob, clean, reference="ref", chance=1.5)
