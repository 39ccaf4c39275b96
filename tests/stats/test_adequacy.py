"""The budget-adequacy rules on synthetic histories: each rule both ways, and its edge cases
(a single trial, every trial failed, ASHA-stopped and early-stopped runs, fixed and
categorical params, log vs linear ranges, one final seed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from robustlab.stats.adequacy import (
    DEFAULT,
    Curve,
    SearchRange,
    Thresholds,
    Verdict,
    check_curve,
    curve_noise,
    near_chance,
    range_position,
    search_boundary,
    tuning_not_converged,
    under_trained,
    unstable,
)


def rising(epochs: int = 12, step: float = 0.02, noise: float = 0.003, seed: int = 0) -> Curve:
    rng = np.random.default_rng(seed)
    y = 0.4 + step * np.arange(epochs) + rng.normal(0, noise, epochs)
    return Curve(f"rising {seed}", tuple(y))


def saturated(epochs: int = 12, noise: float = 0.004, seed: int = 0) -> Curve:
    """Rises fast, then sits on a plateau with noise (best epoch anywhere on it)."""
    rng = np.random.default_rng(seed)
    y = 0.8 * (1 - np.exp(-np.arange(1, epochs + 1) / 1.5)) + rng.normal(0, noise, epochs)
    return Curve(f"saturated {seed}", tuple(y))


# --- under-trained ------------------------------------------------------------------------


def test_a_curve_still_climbing_is_flagged_with_its_evidence_and_remedy() -> None:
    finding = under_trained([rising(seed=s) for s in range(3)], budget_epochs=12)
    assert finding.status == "flagged"
    assert finding.evidence["rising"] == 3 and finding.evidence["assessed"] == 3
    assert all(c["best_epoch"] >= 10 for c in finding.evidence["curves"])
    assert "epoch 12 of 12" in finding.message or "of 12" in finding.message
    (remedy,) = finding.remedies
    assert remedy.field == "budget.epochs" and remedy.value == 24


def test_a_curve_on_its_plateau_is_adequate_even_when_its_max_is_late() -> None:
    curves = [saturated(seed=s) for s in range(6)]
    late = [c for c in curves if int(np.argmax(c.values)) >= 9]
    assert late, "the fixture should put some plateau maxima in the last epochs"
    assert all(not check_curve(c).rising for c in curves)  # type: ignore[union-attr]
    assert under_trained(curves, budget_epochs=12).status == "ok"


def test_a_saturating_noiseless_curve_still_gaining_points_is_rising() -> None:
    """The noise comes from second differences: a smooth flattening is not noise."""
    y = 0.9 * (1 - np.exp(-np.arange(1, 7) / 2.0))  # +5 points over the last 3 epochs
    check = check_curve(Curve("c", tuple(y)))
    assert check is not None and check.rising and check.noise < 0.01


def test_pure_noise_is_rarely_called_rising_and_a_steady_climb_usually_is() -> None:
    """Calibration by simulation, 12 epochs, noise SD 1 point: a flat curve is flagged in
    about 5 % of draws (its max lands in the last fifth in ~25 %); a climb of 2 points per
    epoch in about 90 %."""
    rng = np.random.default_rng(0)
    flat = [check_curve(Curve("flat", tuple(0.5 + rng.normal(0, 0.01, 12)))) for _ in range(2000)]
    late = [c for c in flat if c is not None and c.best_epoch >= 10]
    assert 0.2 < len(late) / 2000 < 0.3
    assert np.mean([c.rising for c in flat if c is not None]) < 0.08
    climb = [check_curve(Curve("climb", tuple(0.5 + 0.02 * np.arange(12)
                                              + rng.normal(0, 0.01, 12)))) for _ in range(500)]
    assert np.mean([c.rising for c in climb if c is not None]) > 0.85


def test_a_curve_that_recovered_but_never_beat_its_early_best_is_not_rising() -> None:
    y = [0.5, 0.7, 0.6, 0.5, 0.4, 0.45, 0.5, 0.55, 0.6, 0.62, 0.64, 0.66]
    check = check_curve(Curve("dip", tuple(y)))
    assert check is not None and check.best_epoch == 2 and not check.rising


def test_best_epoch_must_be_in_the_last_fifth() -> None:
    th = Thresholds(tail_fraction=0.2)
    y = list(0.4 + 0.02 * np.arange(12))
    y[-2:] = [y[-3] - 0.001, y[-3] - 0.002]  # best at epoch 10: inside the last ceil(2.4)=3
    assert check_curve(Curve("c", tuple(y)), th).best_epoch == 10  # type: ignore[union-attr]
    y[-3:] = [y[-4] - 0.001] * 3  # best at epoch 9: outside
    check = check_curve(Curve("c", tuple(y)), th)
    assert check is not None and check.best_epoch == 9 and not check.rising


def test_asha_stopped_early_stopped_short_and_broken_curves_are_not_assessed() -> None:
    climbing = rising().values
    stopped = Curve("stopped trial", climbing[:3], complete=False)  # ASHA cut it at a rung
    early = Curve("final seed 1", climbing[:8], complete=False)  # early stopping fired
    smoke = Curve("final seed 0", climbing[:2])  # 2 epochs: too short to judge
    broken = Curve("nan", (*climbing[:5], math.nan, *climbing[6:]))
    for c in (stopped, early, smoke, broken):
        assert check_curve(c) is None
    finding = under_trained([stopped, early, smoke, broken], budget_epochs=12)
    assert finding.status == "not_assessed" and not finding.remedies
    assert finding.evidence["skipped"] == ["stopped trial", "final seed 1", "final seed 0", "nan"]
    # a stopped trial beside complete curves does not count either way
    assert under_trained([stopped, rising()], budget_epochs=12).evidence["assessed"] == 1


def test_half_the_curves_rising_flags_less_than_half_does_not() -> None:
    assert under_trained([rising(), saturated()], 12).status == "flagged"
    assert under_trained([rising(), saturated(seed=1), saturated(seed=2)], 12).status == "ok"


def test_curve_noise_recovers_the_noise_sd_of_a_smooth_trend() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(2000)
    y = 0.5 + 0.3 * np.sin(t / 300) + rng.normal(0, 0.02, t.size)
    assert curve_noise(y) == pytest.approx(0.02, rel=0.1)
    assert curve_noise(np.array([0.1, 0.2])) == 0.0


# --- search boundary ----------------------------------------------------------------------


def lr_range(low: float = 1e-4, high: float = 3e-3, log: bool = True,
             declared: tuple[float, float] = (1e-5, 1e-1)) -> SearchRange:
    return SearchRange("lr", "float", low, high, log, declared[0], declared[1], "search.lr")


def test_best_config_at_an_edge_is_flagged_and_the_remedy_widens_that_edge() -> None:
    finding = search_boundary({"lr": 2.9e-3}, [lr_range()])
    assert finding.status == "flagged"
    (param,) = finding.evidence["params"]
    assert param["edge"] == "high" and param["position"] > 0.95
    (remedy,) = finding.remedies
    # half the log-width further: 3e-3 * sqrt(30) = 0.0164 -> 2 significant digits
    assert remedy.field == "search.lr" and remedy.value == {"low": 1e-4, "high": 0.016}
    low = search_boundary({"lr": 1.05e-4}, [lr_range()])
    assert low.status == "flagged" and low.remedies[0].value["low"] == pytest.approx(1.8e-5)


def test_an_edge_is_no_finding_when_the_best_score_is_the_maximum() -> None:
    """At validation top-1 = 1 nothing beyond the edge can score higher; just below, it can."""
    top = search_boundary({"lr": 2.9e-3}, [lr_range()], best_score=1.0)
    assert top.status == "ok" and top.evidence["at_ceiling"] is True and not top.remedies
    assert "lr = 0.0029 at the high edge" in top.message and "maximum" in top.message
    below = search_boundary({"lr": 2.9e-3}, [lr_range()], best_score=0.995)
    assert below.status == "flagged" and below.remedies
    assert search_boundary({"lr": 6e-4}, [lr_range()], best_score=1.0).status == "ok"


def test_inside_the_range_is_adequate() -> None:
    finding = search_boundary({"lr": 6e-4, "weight_decay": 1e-4}, [lr_range()])
    assert finding.status == "ok" and finding.evidence["params"][0]["edge"] is None


def test_the_margin_is_measured_on_the_sampling_scale() -> None:
    """3e-4 in [1e-4, 1e-2]: 2 % of the linear width but 24 % of the log width."""
    value = {"lr": 3e-4}
    log, linear = lr_range(1e-4, 1e-2, log=True), lr_range(1e-4, 1e-2, log=False)
    assert range_position(log, 3e-4) == pytest.approx(math.log(3) / math.log(100))
    assert search_boundary(value, [log]).status == "ok"
    flagged = search_boundary(value, [linear])
    assert flagged.status == "flagged" and flagged.evidence["params"][0]["edge"] == "low"
    assert flagged.remedies[0].value == {"low": 1e-5, "high": 1e-2}  # capped at the declared


def test_at_the_methods_declared_bound_the_study_cannot_widen() -> None:
    finding = search_boundary({"lr": 3e-3}, [lr_range(declared=(1e-4, 3e-3))])
    (remedy,) = finding.remedies
    assert finding.status == "flagged" and remedy.value is None
    assert "search_space()" in remedy.text


def test_int_ranges_widen_by_whole_steps() -> None:
    layers = SearchRange("fusion_layers", "int", 1, 4, False, 1, 8,
                         "methods.comm.search.fusion_layers")
    finding = search_boundary({"fusion_layers": 4}, [layers])
    assert finding.status == "flagged"
    assert finding.remedies[0].value == {"low": 1, "high": 6}
    assert finding.remedies[0].field == "methods.comm.search.fusion_layers"
    assert search_boundary({"fusion_layers": 2}, [layers]).status == "ok"


def test_fixed_categorical_and_missing_params_are_excluded() -> None:
    # Only numeric ranges reach the rule (the frames layer drops choices and fixed values);
    # a value that is not a number (a bool, a string, absent) is skipped too.
    finding = search_boundary({"lr": True, "negatives": "n"}, [lr_range()])
    assert finding.status == "ok" and finding.evidence["params"] == []
    assert search_boundary({"lr": 1e-3}, []).status == "ok"
    assert search_boundary(None, [lr_range()]).status == "not_assessed"


# --- tuning not converged -----------------------------------------------------------------


def test_a_best_score_still_improving_in_the_last_third_is_flagged() -> None:
    finding = tuning_not_converged([0.5, 0.55, 0.6, 0.62, 0.7, 0.8])
    assert finding.status == "flagged"
    ev = finding.evidence
    assert ev["last_third"] == 2 and ev["best_before_last_third"] == 0.62 and ev["best"] == 0.8
    assert ev["best_at_trial"] == 6
    assert finding.remedies[0].field == "budget.trials" and finding.remedies[0].value == 12


def test_a_plateau_and_gains_within_the_tolerance_are_converged() -> None:
    assert tuning_not_converged([0.7, 0.8, 0.79, 0.8, 0.795, 0.8]).status == "ok"
    small = tuning_not_converged([0.7, 0.8, 0.78, 0.79, 0.805, 0.79])
    assert small.status == "ok" and small.evidence["gain"] == pytest.approx(0.005)
    assert tuning_not_converged([0.7, 0.8, 0.78, 0.79, 0.815, 0.79]).status == "flagged"


def test_trial_order_is_what_counts() -> None:
    scores = [0.5, 0.8, 0.6, 0.62, 0.7, 0.75]
    assert tuning_not_converged(scores).status == "ok"
    assert tuning_not_converged(sorted(scores)).status == "flagged"


def test_one_trial_is_no_evidence_of_convergence() -> None:
    finding = tuning_not_converged([0.6])
    assert finding.status == "flagged" and finding.evidence["best_before_last_third"] is None
    assert finding.remedies[0].value == 2


def test_failed_trials_use_budget_and_find_nothing() -> None:
    every = tuning_not_converged([None, None, None])
    assert every.status == "flagged" and every.evidence["failed"] == 3
    assert "failed" in every.message
    # failures at the end: the best came before them
    assert tuning_not_converged([0.7, 0.8, None, None]).status == "ok"
    # the only success came in the last third
    assert tuning_not_converged([None, None, None, 0.5]).status == "flagged"
    assert tuning_not_converged([]).status == "not_assessed"


# --- unstable -----------------------------------------------------------------------------


def test_seed_spread_against_the_smallest_significant_difference() -> None:
    acc = {0: 0.80, 1: 0.81, 2: 0.79}  # SD 0.01
    assert unstable(acc, {}, None, resolution=0.05).status == "ok"
    finding = unstable(acc, {}, None, resolution=0.008)
    assert finding.status == "flagged"
    assert finding.evidence["seed_sd"] == pytest.approx(0.01)
    assert finding.evidence["sd_limit"] == 0.008
    assert finding.remedies[0].field == "final.seeds"
    assert finding.remedies[0].value == [0, 1, 2, 3, 4, 5]


def test_a_large_spread_is_flagged_without_any_significant_difference() -> None:
    finding = unstable({0: 0.8, 1: 0.6, 2: 0.7}, {}, None, resolution=None)
    assert finding.status == "flagged" and finding.evidence["sd_limit"] == DEFAULT.max_seed_sd
    assert unstable({0: 0.8, 1: 0.82}, {}, None, resolution=None).status == "ok"


def test_a_final_far_below_the_tunings_best_is_flagged() -> None:
    assert unstable({0: 0.8}, {0: 0.80}, tuning_best=0.84, resolution=None).status == "ok"
    finding = unstable({0: 0.8}, {0: 0.70}, tuning_best=0.84, resolution=None)
    assert finding.status == "flagged"
    assert finding.evidence["gap"] == pytest.approx(0.14)
    assert finding.evidence["gap_limit"] == pytest.approx(0.084)
    assert finding.remedies[0].value == [0, 1, 2]  # one seed: at least two more
    assert "seed_sd" not in finding.evidence  # one seed: no spread to judge


def test_one_final_seed_without_a_validation_score_is_not_assessed() -> None:
    assert unstable({0: 0.8}, {}, None, resolution=0.01).status == "not_assessed"
    assert unstable({0: 0.8}, {0: math.nan}, 0.8, resolution=0.01).status == "not_assessed"


# --- near chance --------------------------------------------------------------------------


def test_accuracy_whose_interval_reaches_chance_is_flagged() -> None:
    finding = near_chance(0.005, 400, chance=1 / 400, budget_epochs=12)
    ci = sps.binomtest(2, 400).proportion_ci(0.95, method="exact")
    assert finding.status == "flagged"
    assert finding.evidence["ci_low"] == pytest.approx(ci.low)
    assert finding.evidence["ci_high"] == pytest.approx(ci.high)
    assert finding.remedies[0].field == "budget.epochs" and finding.remedies[0].value == 24


def test_accuracy_clearly_above_chance_is_adequate() -> None:
    assert near_chance(0.05, 400, chance=1 / 400, budget_epochs=12).status == "ok"
    # the boundary: with n = 400 and chance 0.1, 52 hits (13 %) are not enough, 56 are
    lows = {k: sps.binomtest(k, 400).proportion_ci(0.95, method="exact").low for k in (52, 56)}
    assert lows[52] <= 0.1 < lows[56]
    assert near_chance(52 / 400, 400, 0.1, 12).status == "flagged"
    assert near_chance(56 / 400, 400, 0.1, 12).status == "ok"


def test_below_chance_is_said_and_unknown_chance_is_not_assessed() -> None:
    below = near_chance(0.0, 400, chance=0.1, budget_epochs=12)
    assert below.status == "flagged" and "below chance" in below.message
    assert near_chance(0.5, 400, chance=None, budget_epochs=12).status == "not_assessed"
    assert near_chance(None, 0, chance=0.1, budget_epochs=12).status == "not_assessed"


# --- the verdict --------------------------------------------------------------------------


def test_a_verdict_round_trips_through_json() -> None:
    verdict = Verdict("clip", (
        under_trained([rising()], 12), search_boundary({"lr": 2.9e-3}, [lr_range()]),
        tuning_not_converged([0.5, 0.9]), unstable({0: 0.8, 1: 0.6}, {}, None, None),
        near_chance(0.5, 400, 0.0025, 12)))
    raw = verdict.to_json()
    assert raw["flagged"] == ["under_trained", "search_boundary", "tuning_not_converged",
                              "unstable"]
    assert not raw["adequate"] and not verdict.adequate
    again = Verdict.from_json("clip", raw)
    assert again.to_json() == raw
    with pytest.raises(ValueError, match="not an adequacy finding"):
        Verdict.from_json("clip", {"findings": [{"rule": "vibes", "status": "ok"}]})
