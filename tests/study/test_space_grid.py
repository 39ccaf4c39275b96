"""Search-space narrowing (properties) and its Optuna translation; grid expansion."""

from __future__ import annotations

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robustlab.search_space import Choice, FloatRange, IntRange
from robustlab.study.grid import CLEAN, expand_grid
from robustlab.study.spec import SpecError
from robustlab.tune.space import SearchSpace, narrow

DECLARED = {"lr": FloatRange(1e-4, 1e-2, log=True), "depth": IntRange(1, 8),
            "act": Choice(("relu", "gelu"))}


@settings(max_examples=40)
@given(a=st.floats(1e-5, 1e-1), b=st.floats(1e-5, 1e-1))
def test_narrowing_stays_inside_the_declared_range_or_raises(a: float, b: float) -> None:
    low, high = min(a, b), max(a, b)
    inside = 1e-4 <= low < high <= 1e-2
    if inside:
        space = narrow(DECLARED, {"lr": {"low": low, "high": high}}, "s")
        lr = space.free["lr"]
        assert isinstance(lr, FloatRange) and lr.log
        assert 1e-4 <= lr.low < lr.high <= 1e-2
    else:
        with pytest.raises(ValueError, match=r"s\.lr"):
            narrow(DECLARED, {"lr": {"low": low, "high": high}}, "s")


@settings(max_examples=40)
@given(value=st.integers(-3, 12))
def test_fixing_an_int_inside_its_range_only(value: int) -> None:
    if 1 <= value <= 8:
        space = narrow(DECLARED, {"depth": value}, "s")
        assert space.fixed == {"depth": value} and "depth" not in space.free
    else:
        with pytest.raises(ValueError, match=r"s\.depth: must be a number in"):
            narrow(DECLARED, {"depth": value}, "s")


def test_choices_and_unknown_keys() -> None:
    space = narrow(DECLARED, {"act": ["gelu"], "lr": [1e-3, 2e-3]}, "m")
    assert space.free["act"] == Choice(("gelu",)) and space.free["lr"] == Choice((1e-3, 2e-3))
    with pytest.raises(ValueError, match="not one of"):
        narrow(DECLARED, {"act": "tanh"}, "m")
    with pytest.raises(ValueError, match="did you mean 'depth'"):
        narrow(DECLARED, {"dpeth": 2}, "m")
    with pytest.raises(ValueError, match="cannot be narrowed to a range"):
        narrow(DECLARED, {"act": {"low": 0, "high": 1}}, "m")


def test_suggest_draws_inside_the_space_and_returns_the_fixed() -> None:
    space = SearchSpace(free=dict(DECLARED), fixed={"weight_decay": 0.0})
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=3))
    for _ in range(15):
        trial = study.ask()
        assert space.suggest(trial) == {"weight_decay": 0.0}
        p = trial.params
        assert 1e-4 <= p["lr"] <= 1e-2 and 1 <= p["depth"] <= 8 and p["act"] in ("relu", "gelu")
        study.tell(trial, p["lr"])


def test_grid_crosses_axes_in_file_order_and_rejects_duplicates() -> None:
    grid = [{"op": "missing", "modality": ["b", "c"], "fraction": [0.25, 1.0]},
            {"op": "gaussian_noise", "modality": "b", "severity": [1, 3]},
            {"compose": [{"op": "missing", "modality": "b", "fraction": 0.5},
                         {"op": "gaussian_noise", "modality": "c", "severity": [2, 4]}]}]
    conditions = expand_grid(grid, ("a", "b", "c"))
    assert conditions[0] == CLEAN and len(conditions) == 1 + 4 + 2 + 2
    assert [c.id for c in conditions[1:3]] == ["missing(b, fraction=0.25)",
                                               "missing(b, fraction=1.0)"]
    noise = conditions[5]
    assert (noise.op, noise.modality, noise.level) == ("gaussian_noise", "b", 1.0)
    composed = conditions[7]
    assert composed.op == "missing+gaussian_noise" and composed.modality == "b+c"
    with pytest.raises(SpecError, match=r"eval_grid\.1: condition .* already comes from"):
        expand_grid([grid[0], {"op": "missing", "modality": "b", "fraction": 1.0}],
                    ("a", "b", "c"))
    with pytest.raises(SpecError, match=r"eval_grid\.0\.fraction: repeated values"):
        expand_grid([{"op": "missing", "modality": "b", "fraction": [0.5, 0.5]}],
                    ("a", "b", "c"))
