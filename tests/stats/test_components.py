"""Variance components of a contrast (`components.py`): the two-way quantities by hand, the
quasi-F′ variance, and its unbiasedness under the crossed seed × example model."""

from __future__ import annotations

import numpy as np

from robustlab.stats.components import cell_stats, contrast_data, probit_scale, variance


def test_cell_quantities_match_a_hand_computed_two_way_layout() -> None:
    rng = np.random.default_rng(0)
    x = (rng.random((3, 7)) < 0.6).astype(float)
    stats = cell_stats([x])
    rows, cols, grand = x.mean(1), x.mean(0), x.mean()
    residual = x - rows[:, None] - cols[None, :] + grand
    assert np.isclose(stats.var[0], rows.var(ddof=1))
    assert np.isclose(stats.resid[0], (residual**2).sum() / (2 * 6))
    assert np.allclose(stats.cols[0], cols) and np.isclose(stats.acc[0], grand)


def test_cells_of_different_shapes_and_one_seed() -> None:
    rng = np.random.default_rng(1)
    cells = [rng.random((3, 5)) < 0.5, rng.random((1, 5)) < 0.5, rng.random((4, 5)) < 0.5]
    stats = cell_stats(cells)
    assert stats.seeds.tolist() == [3, 1, 4]
    assert stats.var[1] == 0.0 and stats.resid[1] == 0.0  # one seed: no seed term
    assert np.isclose(stats.var[2], cells[2].mean(1).var(ddof=1))


def test_variance_is_the_quasi_f_combination() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.random((3, 40)) < 0.7, rng.random((3, 40)) < 0.5
    cells = cell_stats([a, b])
    data = contrast_data(cells, np.array([[0, 1]]))
    v = variance(data, data.blocks.var, data.blocks.df, df_level=None)
    e = a.mean(0) - b.mean(0)
    inter = cells.resid / (3 * 40)
    example = max(e.var(ddof=1) / 40 - inter.sum(), 0.0)
    assert np.isclose(data.estimate[0], a.mean() - b.mean())
    assert np.isclose(v.total[0], cells.var.sum() / 3 + example)
    assert np.isclose(v.interaction[0], inter.sum())
    assert np.isclose(v.example[0], example)


def test_variance_is_unbiased_under_the_crossed_model() -> None:
    """Gaussian crossed model (seed, example, interaction) with known components: the mean of
    V over many data sets equals Var(θ̂); the old min-F′ estimator over-counts."""
    rng = np.random.default_rng(3)
    s, n, sets = 3, 30, 6000
    sd_seed, sd_ex, sd_int = 0.3, 0.5, 1.0
    truth = 2 * sd_seed**2 / s + sd_ex**2 / n + 2 * sd_int**2 / (s * n)
    estimates, totals, min_f = [], [], []
    for _ in range(sets):
        ex = rng.normal(0, sd_ex, n)  # the difference's example effect, split over a and b
        a = rng.normal(0, sd_seed, (s, 1)) + ex / 2 + rng.normal(0, sd_int, (s, n))
        b = rng.normal(0, sd_seed, (s, 1)) - ex / 2 + rng.normal(0, sd_int, (s, n))
        data = contrast_data(cell_stats([a, b]), np.array([[0, 1]]))
        estimates.append(data.estimate[0])
        totals.append(variance(data, data.blocks.var, data.blocks.df, None).total[0])
        min_f.append(data.blocks.var.sum() / s + data.example[0] / n)
    assert abs(np.var(estimates) / truth - 1) < 0.06  # the model is what we think it is
    assert abs(np.mean(totals) / truth - 1) < 0.04, (np.mean(totals), truth)
    over = 2 * sd_int**2 / (s * n)  # min-F′ counts the interaction twice
    assert abs((np.mean(min_f) - truth) / over - 1) < 0.15


def test_probit_scale_is_largest_at_one_half_and_positive_at_the_edges() -> None:
    w = probit_scale(np.array([0.0, 0.1, 0.5, 0.9, 1.0]), np.array(400))
    assert np.isclose(w[2], 1 / (2 * np.pi)) and w[2] == w.max()
    assert np.isclose(w[1], w[3]) and (w > 0).all()
