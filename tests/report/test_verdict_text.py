"""The verdict section's words for an undecided contrast: what would decide it."""

from __future__ import annotations

import math

import pytest

from robustlab.report.sections.verdict import what_would_decide

BASE = {"seeds_needed": 12.0, "examples_needed": math.inf, "lever": "seeds",
        "seeds_floor": None, "examples_floor": None}


def test_an_mde_within_the_scale_is_given_in_points() -> None:
    text = what_would_decide({**BASE, "mde": 0.253})
    assert text.startswith("detectable at 80 % power: 25.3 points;")
    assert "decided with ≈ 12 seeds per variant (a larger test split alone would not)" in text


@pytest.mark.parametrize("mde", [1.0, 3.86, 9.11])
def test_an_mde_beyond_100_points_says_no_difference_is_detectable(mde: float) -> None:
    # GRAM's seeds in the default study scatter from chance to perfect: at 3 seeds its MDE
    # is several hundred "points", which no accuracy difference can reach
    text = what_would_decide({**BASE, "mde": mde})
    assert text.startswith("no difference, however large, is detectable at 80 % power")
    assert "points" not in text.split(";")[0]


def test_unknown_seed_variance_is_said_so() -> None:
    text = what_would_decide({**BASE, "mde": math.nan, "seeds_needed": math.nan,
                              "examples_needed": math.nan})
    assert text == ("a variant has one seed, so its seed variance and what more seeds would "
                    "do are unknown")
