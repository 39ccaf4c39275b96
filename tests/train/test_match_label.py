"""Class-level retrieval (`Task(match="label")`): rank, margin and ties of `rank_of_label`,
and `evaluate` with it (Symile-M3's protocol: a hit is any candidate of the query's class)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from robustlab.data import DATASETS
from robustlab.evaluate import Task, evaluate, rank_of_label

from .conftest import Builder


def _rank(scores: np.ndarray, same: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return rank_of_label(torch.as_tensor(scores, dtype=torch.float32),
                         torch.as_tensor(same, dtype=torch.bool), np.random.default_rng(seed))


@settings(max_examples=60)
@given(rows=st.integers(1, 6), cols=st.integers(2, 9), classes=st.integers(1, 4),
       seed=st.integers(0, 2**16))
def test_distinct_scores_rank_is_the_first_hit_in_the_sorted_list(
    rows: int, cols: int, classes: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.permutation(rows * cols).reshape(rows, cols).astype(np.float32)  # distinct
    labels = rng.integers(0, classes, (rows, cols))
    query = rng.integers(0, classes, (rows, 1))
    same = labels == query
    rank, margin = _rank(scores, same, seed)
    for i in range(rows):
        hits = same[i][np.argsort(-scores[i])]  # in ranked order
        if hits.any():
            assert rank[i] == 1 + int(np.argmax(hits))
            best = scores[i][same[i]].max()
            other = scores[i][~same[i]].max() if (~same[i]).any() else -np.inf
            assert margin[i] == best - other
        else:
            assert rank[i] == cols + 1 and margin[i] == -np.inf
    assert np.array_equal(rank == 1, margin > 0)


@pytest.mark.parametrize(("n_same", "n_other"), [(1, 7), (3, 5), (5, 1)])
def test_all_equal_scores_place_the_first_hit_as_a_random_order_would(
    n_same: int, n_other: int
) -> None:
    """A model that scores every candidate alike is at chance: P(rank = 1 + j) is the
    probability that a random order puts exactly j other-class items first."""
    n, cols = 40000, n_same + n_other
    same = np.zeros((n, cols), dtype=bool)
    same[:, :n_same] = True
    rank, margin = _rank(np.zeros((n, cols)), same, seed=3)
    assert np.all(margin == 0.0)
    observed = np.bincount(rank - 1, minlength=n_other + 1) / n
    for j in range(n_other + 1):  # P(first j are other-class) * P(item j+1 is same-class)
        first_j_other = math.comb(n_other, j) / math.comb(cols, j)
        expected = first_j_other * n_same / (cols - j)
        assert abs(observed[j] - expected) < 0.01, (j, observed[j], expected)
    again, _ = _rank(np.zeros((n, cols)), same, seed=3)
    assert np.array_equal(rank, again)


def test_ties_only_among_the_same_class_do_not_cost_a_hit() -> None:
    scores = np.array([[2.0, 2.0, 2.0, 1.0], [1.0, 2.0, 2.0, 3.0]], dtype=np.float32)
    same = np.array([[True, True, True, False], [False, True, True, False]])
    for seed in range(10):
        rank, margin = _rank(scores, same, seed)
        assert rank.tolist() == [1, 2]
        assert margin.tolist() == [1.0, -1.0]


def test_edge_rows_every_candidate_same_class_none_and_nan() -> None:
    scores = np.array([[0.3, 0.1], [0.3, 0.1], [np.nan, 0.2]], dtype=np.float32)
    same = np.array([[True, True], [False, False], [True, False]])
    rank, margin = _rank(scores, same)
    assert rank.tolist() == [1, 3, 2]  # no candidate of its class: never retrieved
    assert margin[0] == np.inf and margin[1] == -np.inf and margin[2] == -np.inf


def test_task_match_validation() -> None:
    assert Task(target="image", match="label").match == "label"
    with pytest.raises(ValueError, match=r"task\.match"):
        Task(match="class")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"task\.match: 'label' is a retrieval option"):
        Task(protocol="probe", match="label")


def test_label_match_counts_every_item_hit_and_more(build: Builder) -> None:
    """On labelled data (pid, 2 classes) an item hit is a label hit, and class-level top-1
    is at least item top-1; with K sampled candidates ranks stay within 1..K."""
    data = DATASETS.get("pid")(setting="redundancy", n=600).build(0)
    method = build("clip", data, dim=8)
    test = data.split("test")
    item = evaluate(method, data, test, task=Task(target="a"), seed=0)
    label = evaluate(method, data, test, task=Task(target="a", match="label"), seed=0)
    assert (label["correct"] | ~item["correct"]).all()
    assert label["correct"].mean() > item["correct"].mean()  # 2 classes: ~half by chance
    assert (label["rank"] <= item["rank"]).all()
    sampled = evaluate(method, data, test, task=Task(target="a", match="label", candidates=5),
                       seed=0)
    assert sampled["rank"].is_between(1, 5).all()


def test_label_match_refuses_data_without_labels(build: Builder) -> None:
    data = DATASETS.get("synthetic_xnor")(n=400, bits=4, dim=16).build(0)
    method = build("clip", data, dim=8)
    with pytest.raises(ValueError, match=r"task\.match: 'label' needs labels"):
        evaluate(method, data, data.split("test"), task=Task(target="a", match="label"),
                 seed=0)
