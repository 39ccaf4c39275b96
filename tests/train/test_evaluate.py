"""Evaluation frames: schema, candidate sets (bank / split / K sampled), perturbed splits,
the probe and its balanced accuracy, and clear errors. Real methods, untrained or tiny."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import balanced_accuracy_score

from perturbations import OPERATORS
from robustlab import evaluate as evaluate_module
from robustlab.data import DATASETS, TrimodalDataset
from robustlab.data.perturb import perturb_split
from robustlab.evaluate import Task, balanced_accuracy, class_log_proba, evaluate, top1

from .conftest import Builder

RETRIEVE_B = Task(target="b")


def test_retrieval_frame_schema_and_bank_candidates(xor_small: TrimodalDataset,
                                                    build: Builder) -> None:
    method = build("symile", xor_small)
    test = xor_small.split("test")
    frame = evaluate(method, xor_small, test, task=RETRIEVE_B, seed=0)
    assert frame.columns[:4] == ["example_id", "correct", "rank", "score_margin"]
    assert frame.schema["example_id"] == pl.Int64 and frame.schema["rank"] == pl.Int64
    assert frame.schema["correct"] == pl.Boolean and frame.schema["score_margin"] == pl.Float64
    assert "is_xor" in frame.columns  # the dataset's slice column rides along
    assert np.array_equal(frame["example_id"].to_numpy(), test.example_id)
    ranks = frame["rank"].to_numpy()
    assert ranks.min() >= 1 and ranks.max() <= 4  # the 2^d bank, not the 60 test items
    assert frame["correct"].to_list() == (frame["rank"] == 1).to_list()
    clear = frame.filter(pl.col("score_margin") != 0)  # exact ties are decided by the draw
    assert clear["correct"].to_list() == (clear["score_margin"] > 0).to_list()


def test_query_blocks_are_capped_at_encode_chunk(xor_small: TrimodalDataset, build: Builder,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A tiny bank (4 vectors) leaves room for millions of queries per score block; the
    queries still go through the model at most ENCODE_CHUNK rows at a time."""
    monkeypatch.setattr(evaluate_module, "ENCODE_CHUNK", 16)
    method = build("comm", xor_small)
    sizes: list[int] = []
    encode_query = method.encode_query

    def recording(batch, target):  # records the rows of every query block
        sizes.append(batch.size)
        return encode_query(batch, target)

    monkeypatch.setattr(method, "encode_query", recording)
    frame = evaluate(method, xor_small, xor_small.split("test"), task=RETRIEVE_B, seed=0)
    assert max(sizes) == 16 and sum(sizes) == frame.height == len(xor_small.split("test"))


def test_split_candidates_and_k_sampled_candidates(build: Builder) -> None:
    data = DATASETS.get("synthetic_xnor")(n=400, corruption=0.5, dim=64).build(0)
    method = build("gated_symile", data)
    test = data.split("test")
    full = evaluate(method, data, test, task=Task(target="a"), seed=0)
    assert full["rank"].max() <= len(test) and "corrupted_modality" in full.columns
    sampled = evaluate(method, data, test, task=Task(target="a", candidates=5), seed=3)
    again = evaluate(method, data, test, task=Task(target="a", candidates=5), seed=3)
    other = evaluate(method, data, test, task=Task(target="a", candidates=5), seed=4)
    assert sampled["rank"].max() <= 5
    assert sampled.equals(again)
    assert not sampled["rank"].equals(other["rank"])
    # a true item beaten by nobody among all candidates is beaten by nobody among 5
    assert (sampled["rank"] <= full["rank"]).all()


def test_perturbed_split_keeps_every_example(xor_small: TrimodalDataset,
                                             build: Builder) -> None:
    method = build("clip", xor_small)
    test = xor_small.split("test")
    missing = OPERATORS.get("missing")(modality="c", fraction=0.5)
    perturbed, provenance = perturb_split(test, missing, seed=0)
    frame = evaluate(method, xor_small, perturbed, task=RETRIEVE_B, seed=0)
    assert frame.height == len(test) == provenance.height
    joined = frame.join(provenance, on="example_id", how="inner")
    assert joined.height == len(test) and joined["perturbed"].sum() == len(test) // 2


def test_missing_targets_are_candidates_through_their_mask(build: Builder) -> None:
    """Retrieving a target that is missing for some test examples: those candidates are
    encoded as missing (the method's missing embedding / CLS-only fusion), so the values
    left in their rows cannot change any rank."""
    data = DATASETS.get("synthetic_xnor")(n=400, dim=64).build(0)
    test = data.split("test")
    perturbed, _ = perturb_split(test, OPERATORS.get("missing")(modality="a", fraction=0.5),
                                 seed=0)
    noisy_a = perturbed.features["a"].copy()
    gone = ~perturbed.masks["a"]
    noisy_a[gone] = np.random.default_rng(1).standard_normal((int(gone.sum()), 64))
    garbage = perturbed.replace(features={**perturbed.features, "a": noisy_a})
    for name in ("symile", "comm"):
        method = build(name, data)
        frames = [evaluate(method, data, s, task=Task(target="a"), seed=0)
                  for s in (perturbed, garbage)]
        assert frames[0].equals(frames[1]), name
        assert frames[0].height == len(test)  # every example kept


def test_a_missing_bank_target_is_an_error(xor_small: TrimodalDataset, build: Builder) -> None:
    """symile_xor retrieves b among its fixed bank: a split with b missing cannot be
    honoured (the bank never sees the split), so it is refused, not silently ignored."""
    missing_b = OPERATORS.get("missing")(modality="b", fraction=0.5)
    perturbed, _ = perturb_split(xor_small.split("test"), missing_b, seed=0)
    with pytest.raises(ValueError, match=r"fixed candidate bank.*'b' missing"):
        evaluate(build("clip", xor_small), xor_small, perturbed, task=RETRIEVE_B, seed=0)


def test_probe_balanced_accuracy_matches_sklearn(pid_small: TrimodalDataset,
                                                 build: Builder) -> None:
    method = build("coral", pid_small)
    probe = Task(protocol="probe")
    test = pid_small.split("test")
    frame = evaluate(method, pid_small, test, task=probe, seed=0,
                     probe_train=pid_small.split("train"))
    assert set(frame["rank"].unique().to_list()) <= {1, 2}
    labels = frame["label"].to_numpy()
    predicted = np.where(frame["correct"].to_numpy(), labels, 1 - labels)  # binary labels
    assert balanced_accuracy(frame) == pytest.approx(balanced_accuracy_score(labels, predicted))
    assert top1(frame) == pytest.approx(float(np.mean(predicted == labels)))


def test_evaluate_restores_training_mode(xor_small: TrimodalDataset, build: Builder) -> None:
    method = build("comm", xor_small)
    method.train()
    evaluate(method, xor_small, xor_small.split("val"), task=RETRIEVE_B, seed=0)
    assert method.training


def test_clear_errors(xor_small: TrimodalDataset, build: Builder) -> None:
    method = build("clip", xor_small)
    test = xor_small.split("test")
    with pytest.raises(ValueError, match=r"task\.target: 'x' is not a modality .*'a', 'b', 'c'"):
        evaluate(method, xor_small, test, task=Task(target="x"), seed=0)
    with pytest.raises(ValueError, match="needs probe_train"):
        evaluate(method, xor_small, test, task=Task(protocol="probe"), seed=0)
    with pytest.raises(ValueError, match="has no labels"):
        evaluate(method, xor_small, test, task=Task(protocol="probe"), seed=0,
                 probe_train=xor_small.split("train"))
    with pytest.raises(ValueError, match="K=9 exceeds the 4 candidates"):
        evaluate(method, xor_small, test, task=Task(target="b", candidates=9), seed=0)


@pytest.mark.parametrize("num_classes", [2, 3])
def test_probe_log_proba_stays_finite_for_confident_rows(num_classes: int) -> None:
    """Far-apart classes make sklearn's predict_log_proba -inf (the log of a probability
    rounded to 0); ours is the log-softmax of the logits: finite, and the same values
    wherever sklearn's is finite."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(num_classes), 50)
    x = rng.standard_normal((labels.size, 2)) + 2e4 * np.eye(num_classes, 2)[labels]
    clf = LogisticRegression(C=1e6, max_iter=1000).fit(x, labels)  # barely regularised
    with np.errstate(divide="ignore"):  # sklearn's log(0), the behaviour under test
        reference = clf.predict_log_proba(x)
    ours = class_log_proba(clf, x).numpy()
    assert np.isneginf(reference).any()  # the case the helper exists for
    assert np.isfinite(ours).all()
    finite = np.isfinite(reference)
    np.testing.assert_allclose(ours[finite], reference[finite], rtol=1e-6, atol=1e-9)
    assert (ours.argmax(1) == clf.predict(x)).all()
