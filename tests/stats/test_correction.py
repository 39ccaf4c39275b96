"""Holm and Benjamini–Hochberg against hand-checked examples and their defining properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import false_discovery_control

from robustlab.stats import adjust, benjamini_hochberg, holm


def test_holm_hand_checked() -> None:
    # sorted: .005 .01 .03 .04 → ×4 ×3 ×2 ×1 = .02 .03 .06 .04 → running max .02 .03 .06 .06
    p = np.array([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one_and_keeps_shape() -> None:
    p = np.array([[0.3, 0.2], [0.01, 0.5]])
    # sorted .01 .2 .3 .5 → ×4 ×3 ×2 ×1 = .04 .6 .6 .5 → running max .04 .6 .6 .6
    np.testing.assert_allclose(holm(p), [[0.6, 0.6], [0.04, 0.6]])
    np.testing.assert_allclose(holm(np.array([0.6, 0.7])), [1.0, 1.0])  # 1.2 capped


def test_bh_hand_checked() -> None:
    # sorted .005 .01 .03 .04 → ·4/1 ·4/2 ·4/3 ·4/4 = .02 .02 .04 .04 → running min from the top
    p = np.array([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02])
    p2 = np.array([0.01, 0.02, 0.03, 0.04, 0.05, 0.5])  # the first five all become 0.06
    np.testing.assert_allclose(benjamini_hochberg(p2), [0.06] * 5 + [0.5])


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=40))
def test_properties(values: list[float]) -> None:
    p = np.array(values)
    h, b = holm(p), benjamini_hochberg(p)
    np.testing.assert_allclose(b, false_discovery_control(p), rtol=1e-12, atol=1e-15)
    assert (h >= p).all() and (b >= p).all() and (h <= 1).all()
    assert (b <= h + 1e-15).all()  # BH never stricter than Holm
    order = np.argsort(p, kind="stable")
    assert (np.diff(h[order]) >= 0).all() and (np.diff(b[order]) >= -1e-15).all()
    assert (h <= np.minimum(1.0, p * p.size) + 1e-15).all()  # never worse than Bonferroni


def test_adjust_dispatch_and_errors() -> None:
    p = np.array([0.01, 0.2])
    np.testing.assert_array_equal(adjust(p, "holm"), holm(p))
    np.testing.assert_array_equal(adjust(p, "bh"), benjamini_hochberg(p))
    with pytest.raises(ValueError, match="correction"):
        adjust(p, "bonferroni")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm(np.array([0.1, np.nan]))
    assert holm(np.array([])).shape == (0,)
