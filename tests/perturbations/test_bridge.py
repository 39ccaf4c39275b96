"""The bridge to robustlab's Split and Batch (robustlab/data/perturb.py) and apply_torch."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from perturbations import Compose, build
from perturbations.tensors import apply_torch
from robustlab.data import Split
from robustlab.data.perturb import perturb_batch, perturb_split


def make_split(n: int = 50, d: int = 6) -> Split:
    rng = np.random.default_rng(0)
    return Split(
        features={m: rng.standard_normal((n, d)).astype(np.float32) for m in "abc"},
        masks={m: np.ones(n, dtype=bool) for m in "abc"},
        example_id=np.arange(1000, 1000 + n, dtype=np.int64),
        label=rng.integers(0, 3, n),
        metadata=pl.DataFrame({"site": ["x", "y"] * (n // 2)}),
    )


OP = Compose((build({"op": "missing", "modality": "a", "fraction": 0.4}),
              build({"op": "gaussian_noise", "modality": "b", "severity": 2})))


def test_perturb_split_returns_a_new_split_and_a_typed_provenance_frame() -> None:
    split = make_split()
    before = {m: v.copy() for m, v in split.features.items()}
    out, frame = perturb_split(split, OP, seed=5)
    assert frame.height == len(split) and frame["example_id"].to_list() == \
        split.example_id.tolist()
    assert frame.schema["perturbed"] == pl.Boolean and frame.schema["op"] == pl.String
    assert frame.schema["severity"] == pl.Float64 and frame.schema["step1_modality"] == pl.String
    assert frame.schema["step2_perturbed"] == pl.Boolean and frame.schema["fraction"] == pl.Float64
    assert frame["step1_perturbed"].sum() == 20 and frame["perturbed"].all()  # noise hits all
    assert not out.masks["a"][frame["step1_perturbed"].to_numpy()].any()
    assert out.features["c"] is split.features["c"] and out.metadata.equals(split.metadata)
    for m in "abc":
        np.testing.assert_array_equal(split.features[m], before[m])  # input untouched
    assert not np.array_equal(out.features["b"], split.features["b"])


def test_perturb_batch_matches_perturb_split_when_the_batch_is_the_split() -> None:
    split = make_split()
    out, _ = perturb_split(split, OP, seed=5)
    batch = perturb_batch(split.to_batch(), OP, seed=5)
    for m in "abc":
        assert batch.x[m].dtype == torch.float32
        np.testing.assert_array_equal(batch.x[m].numpy(), out.features[m])
        np.testing.assert_array_equal(batch.mask[m].numpy(), out.masks[m])
    assert torch.equal(batch.index, split.to_batch().index)


def test_apply_torch_keeps_dtype_device_and_untouched_tensors() -> None:
    x = {m: torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
         for m in "abc"}
    mask = {m: torch.ones(8, dtype=torch.bool) for m in "abc"}
    op = build({"op": "swap_modality", "modality": "c", "fraction": 1.0})
    new_x, new_mask, prov = apply_torch(op, x, mask, torch.arange(8), seed=1)
    assert new_mask["c"].dtype == torch.bool and new_mask["a"] is mask["a"]
    assert new_x["a"] is x["a"] and new_x["c"].dtype == torch.float64
    assert new_x["c"].device == x["c"].device and prov["perturbed"].all()
    assert torch.equal(new_x["c"].sort(dim=0).values, x["c"].sort(dim=0).values)


def test_perturb_split_with_an_unknown_modality_names_it() -> None:
    with pytest.raises(ValueError, match=r"modality 'ecg' not in the data"):
        perturb_split(make_split(), build({"op": "missing", "modality": "ecg"}), seed=0)
