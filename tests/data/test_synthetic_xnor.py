"""synthetic_xnor: B ⊙ C = A on the signal coordinates, and the corruption it exists for."""

from __future__ import annotations

import numpy as np
import pytest

from robustlab.data import DATASETS, SPLITS

XNOR = DATASETS.get("synthetic_xnor")


def _all(ds, key):
    """Concatenate a per-modality array over the splits, ordered by example id."""
    order = np.argsort(np.concatenate([ds.split(s).example_id for s in SPLITS]))
    return {m: np.concatenate([ds.split(s).features[m] for s in SPLITS])[order]
            for m in ds.modalities} if key == "x" else np.concatenate(
        [ds.split(s).metadata["corrupted_modality"].to_numpy() for s in SPLITS])[order]


def test_signal_dims_and_defaults():
    options = XNOR()
    assert (options.n, options.bits, options.dim, options.distractor_std) == (30000, 16, 128, 3.0)
    assert options.signal_dims == (0, 48)


def test_clean_examples_satisfy_b_times_c_equals_a():
    ds = XNOR(n=2000, corruption=0.4).build(0)
    x, who = _all(ds, "x"), _all(ds, "meta")
    stop = XNOR().signal_dims[1]
    clean = who == "none"
    np.testing.assert_array_equal(x["b"][clean, :stop] * x["c"][clean, :stop],
                                  x["a"][clean, :stop])
    assert set(np.unique(x["a"][:, :stop])) == {-1.0, 1.0}
    np.testing.assert_array_equal(x["b"][:, 16:32], 1.0)  # B = [u, 1, u]: never swapped away
    np.testing.assert_array_equal(x["c"][:, :16], 1.0)  # C = [1, v, v]


def test_distractors_are_n_0_3():
    x = _all(XNOR(n=4000).build(1), "x")
    noise = np.concatenate([x[m][:, 48:] for m in "abc"]).ravel()  # 3 * 4000 * 80 draws
    assert abs(noise.mean()) < 0.02 and abs(noise.std() - 3.0) < 0.02


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_corruption_share_and_fifty_fifty(p):
    n = 20000
    who = _all(XNOR(n=n, corruption=p).build(2), "meta")
    share = np.mean(who != "none")
    assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-12
    if p > 0:
        in_b = np.mean(who[who != "none"] == "b")
        assert abs(in_b - 0.5) < 4 * np.sqrt(0.25 / (p * n))


def test_corruption_swaps_only_the_signal_of_one_modality():
    clean = _all(XNOR(n=3000, corruption=0.0).build(4), "x")
    ds = XNOR(n=3000, corruption=0.5).build(4)
    dirty, who = _all(ds, "x"), _all(ds, "meta")
    np.testing.assert_array_equal(dirty["a"], clean["a"])
    for m in "bc":
        hit = who == m
        untouched = ~hit
        np.testing.assert_array_equal(dirty[m][untouched], clean[m][untouched])
        np.testing.assert_array_equal(dirty[m][hit, 48:], clean[m][hit, 48:])  # distractors stay
        # the new signal is another example's clean signal, so it no longer explains A
        sources = {row.tobytes() for row in clean[m][:, :48]}
        assert all(row.tobytes() in sources for row in dirty[m][hit, :48])
        changed = (dirty[m][hit, :48] != clean[m][hit, :48]).any(axis=1)
        assert changed.mean() > 0.99
        product = dirty["b"][hit, :48] * dirty["c"][hit, :48]
        assert ((product != dirty["a"][hit, :48]).any(axis=1)).mean() > 0.99


@pytest.mark.parametrize(("field", "value"), [("corruption", 1.5), ("corruption", -0.1),
                                              ("dim", 40), ("n", 2), ("distractor_std", -1.0),
                                              ("bits", 0), ("val_fraction", 0.0),
                                              ("n", 2.5)])
def test_invalid_options_raise_naming_field_and_value(field, value):
    with pytest.raises(ValueError, match=rf"synthetic_xnor\.{field}.*{value}"):
        XNOR(**{field: value})


def test_fractions_must_leave_a_train_split():
    with pytest.raises(ValueError, match=r"val_fraction.*test_fraction.*< 1"):
        XNOR(val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match=r"synthetic_xnor\.n.*empty"):
        XNOR(n=5, val_fraction=0.05, test_fraction=0.05)
