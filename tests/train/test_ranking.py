"""Ranking with random tie-breaks, config validation and the lr schedule (no training here)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from robustlab.evaluate import Task, rank_of_true
from robustlab.train import TrainConfig, warmup_cosine


def _rank(scores: np.ndarray, truth: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return rank_of_true(
        torch.as_tensor(scores, dtype=torch.float32),
        torch.as_tensor(truth, dtype=torch.long),
        np.random.default_rng(seed),
    )


@settings(max_examples=40)
@given(
    rows=st.integers(1, 6),
    cols=st.integers(2, 9),
    seed=st.integers(0, 2**16),
)
def test_distinct_scores_rank_is_one_plus_number_greater(rows: int, cols: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.permutation(rows * cols).reshape(rows, cols).astype(np.float32)  # all distinct
    truth = rng.integers(0, cols, rows)
    rank, margin = _rank(scores, truth, seed)
    s_true = scores[np.arange(rows), truth]
    assert np.array_equal(rank, 1 + (scores > s_true[:, None]).sum(1))
    others = scores.copy()
    others[np.arange(rows), truth] = -np.inf
    assert np.allclose(margin, s_true - others.max(1))
    assert np.array_equal(rank == 1, margin > 0)


@settings(max_examples=30)
@given(
    greater=st.integers(0, 4), ties=st.integers(0, 5), lower=st.integers(0, 4),
    seed=st.integers(0, 2**16),
)
def test_ties_place_the_true_item_within_its_tied_block(
    greater: int, ties: int, lower: int, seed: int
) -> None:
    row = [3.0] * greater + [2.0] * (ties + 1) + [1.0] * lower
    truth = greater  # the first of the tied block
    rank, margin = _rank(np.array([row]), np.array([truth]), seed)
    assert greater + 1 <= rank[0] <= greater + ties + 1
    if greater:
        expected = 2.0 - 3.0
    elif ties:
        expected = 0.0
    else:  # alone at the top: the margin over the best lower one, or inf with no other
        expected = 1.0 if lower else math.inf
    assert margin[0] == expected


def test_all_equal_scores_rank_uniformly_at_chance() -> None:
    """A model that scores every candidate alike must look like chance, not like a winner."""
    n, c = 20000, 8
    rank, _ = _rank(np.zeros((n, c)), np.zeros(n, dtype=np.int64), seed=1)
    counts = np.bincount(rank, minlength=c + 1)[1:]
    assert counts.sum() == n
    assert np.all(np.abs(counts / n - 1 / c) < 0.01), counts
    # the same seed gives the same ranks; another seed different ones
    assert np.array_equal(rank, _rank(np.zeros((n, c)), np.zeros(n, dtype=np.int64), seed=1)[0])
    assert not np.array_equal(rank, _rank(np.zeros((n, c)), np.zeros(n, dtype=np.int64), 2)[0])


def test_near_ties_within_float_rounding_count_as_ties() -> None:
    base = np.float32(10.0)
    row = np.array([[base, np.nextafter(base, np.float32(11.0)), 0.0]], dtype=np.float32)
    ranks = {int(_rank(row, np.array([0]), seed)[0][0]) for seed in range(40)}
    assert ranks == {1, 2}


@given(scale=st.sampled_from([1e-6, 1e-3, 1.0, 1e3]), seed=st.integers(0, 2**16))
@settings(max_examples=30, deadline=None)
def test_ranks_do_not_depend_on_the_scale_of_the_scores(scale: float, seed: int) -> None:
    """Distinct scores rank the same however small they all are (normalised MIP scores are
    ~1/D): a tie is judged relative to the row's scale, not against an absolute floor."""
    rng = np.random.default_rng(seed)
    scores = rng.permutation(np.arange(1, 9, dtype=np.float64))[None, :].repeat(8, axis=0)
    truth = np.arange(8)
    expected = 9 - scores[0]  # the score k ranks 9 - k among 1..8
    rank, _ = _rank((scores * scale).astype(np.float32), truth, seed)
    assert np.array_equal(rank, expected.astype(np.int64))


def test_an_infinite_score_sets_no_tie_tolerance() -> None:
    """The probe gives a class it never saw a -inf column: the finite scores still decide
    (the row's scale for ties is its largest *finite* |score|)."""
    inf = np.inf
    scores = np.array([[-0.0006, -7.5, -inf], [-7.5, -0.0006, -inf], [-inf, 0.2, 0.1]])
    for seed in range(5):
        rank, margin = _rank(scores.astype(np.float32), np.array([0, 0, 0]), seed)
        assert rank.tolist() == [1, 2, 3]
        assert margin[0] == pytest.approx(7.4994) and margin[1] == pytest.approx(-7.4994)


def test_nan_scores_never_win() -> None:
    scores = np.array([[np.nan, 0.5, 0.1], [0.2, np.nan, np.nan]], dtype=np.float32)
    rank, _ = _rank(scores, np.array([0, 1]))
    assert rank[0] == 3  # a NaN true score ranks below every finite one
    assert rank[1] in (2, 3)  # tied with the other NaN, below the finite 0.2


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("epochs", 0, "train.epochs"),
        ("batch_size", 1, "train.batch_size"),
        ("lr", -1e-3, "train.lr"),
        ("lr", float("nan"), "train.lr"),
        ("weight_decay", -1.0, "train.weight_decay"),
        ("warmup_fraction", 1.0, "train.warmup_fraction"),
        ("grad_clip", 0.0, "train.grad_clip"),
        ("patience", 0, "train.patience"),
        ("device", "tpu", "train.device"),
        ("bf16", 1, "train.bf16"),
        ("seed", -1, "train.seed"),
        ("epochs", True, "train.epochs"),
        ("perturbation_draw", "twice", "train.perturbation_draw"),
    ],
)
def test_train_config_rejects_bad_values_naming_the_field(
    field: str, value: object, needle: str
) -> None:
    with pytest.raises(ValueError, match=needle) as info:
        TrainConfig(**{field: value})  # type: ignore[arg-type]
    assert repr(value) in str(info.value) or str(value) in str(info.value)


def test_task_validation() -> None:
    assert Task(candidates=10).candidates == 10
    for bad in ({"protocol": "zero-shot"}, {"candidates": 1}, {"candidates": "some"},
                {"target": ""}):
        with pytest.raises(ValueError, match=r"task\."):
            Task(**bad)  # type: ignore[arg-type]


def test_warmup_then_cosine_to_zero() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([{"params": [param], "lr": 2.0}])
    scheduler = warmup_cosine(optimizer, 0.1, 100)
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(0.2)  # first of 10 warm-up steps
    assert lrs[9] == pytest.approx(2.0)  # peak at the end of warm-up
    assert all(a <= b for a, b in itertools.pairwise(lrs[:10]))
    assert all(a >= b for a, b in itertools.pairwise(lrs[9:]))
    assert lrs[-1] == pytest.approx(2.0 * 0.5 * (1 + math.cos(math.pi * 89 / 90)))
