"""The battery every registered dataset passes (timm style: parametrized over the registry)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from robustlab.data import DATASETS, SPLITS, Batch, TrimodalDataset

NAMES = DATASETS.names()


def test_registry_holds_the_documented_datasets():
    assert {"symile_xor", "synthetic_xnor", "pid", "m3_lite", "files"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_options_are_frozen_dataclasses_with_build(name):
    cls = DATASETS.get(name)
    assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert callable(cls.build)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_is_an_error(name, tiny_options):
    with pytest.raises(TypeError, match="no_such_option"):
        DATASETS.get(name)(**tiny_options(name), no_such_option=1)


@pytest.mark.parametrize("name", NAMES)
def test_bad_seed_is_an_error(name, tiny_options):
    options = DATASETS.get(name)(**tiny_options(name))
    with pytest.raises(ValueError, match=r"seed.*-1"):
        options.build(-1)


@pytest.mark.parametrize("name", NAMES)
def test_dataset_contract(name, tiny_options):
    ds = DATASETS.get(name)(**tiny_options(name)).build(3)
    assert isinstance(ds, TrimodalDataset) and ds.split_seed == 3
    assert len(set(ds.modalities)) == 3 and set(ds.splits) == set(SPLITS)
    ids = [ds.split(s).example_id for s in SPLITS]
    for split_name in SPLITS:
        _check_split(ds, split_name)
    all_ids = np.concatenate(ids)
    assert np.unique(all_ids).size == all_ids.size, "example ids repeat across splits"


def _check_split(ds: TrimodalDataset, split_name: str) -> None:
    split = ds.split(split_name)
    n = len(split)
    assert n > 0, f"{split_name} is empty"
    assert split.example_id.dtype == np.int64 and split.example_id.shape == (n,)
    assert set(split.features) == set(split.masks) == set(ds.modalities)
    for m in ds.modalities:
        x, mask = split.features[m], split.masks[m]
        assert x.dtype == np.float32 and x.shape == (n, ds.dims[m])
        assert np.isfinite(x).all()
        assert mask.dtype == np.bool_ and mask.shape == (n,)
        assert not x[~mask].any(), "missing rows must be zeros"
    if split.label is not None:
        assert split.label.dtype == np.int64 and ds.num_classes is not None
        assert split.label.min() >= 0 and split.label.max() < ds.num_classes
    if split.metadata.width:
        assert split.metadata.height == n
    assert list(split.metadata.columns) == ds.slice_columns
    for target, rows in split.candidate_id.items():
        bank = ds.candidate_banks[target]
        assert rows.dtype == np.int64 and rows.shape == (n,)
        np.testing.assert_array_equal(bank[rows], split.features[target])
    batch = split.to_batch(np.arange(min(n, 5)))
    assert isinstance(batch, Batch) and batch.size == min(n, 5)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_data_other_seed_other_data(name, tiny_options):
    options = DATASETS.get(name)(**tiny_options(name))
    first, again, other = options.build(5), options.build(5), options.build(6)
    for s in SPLITS:
        np.testing.assert_array_equal(first.split(s).example_id, again.split(s).example_id)
        for m in first.modalities:
            np.testing.assert_array_equal(first.split(s).features[m], again.split(s).features[m])
        assert first.split(s).metadata.equals(again.split(s).metadata)
    differs = any(
        not np.array_equal(first.split(s).example_id, other.split(s).example_id)
        or not np.array_equal(first.split(s).features[m], other.split(s).features[m])
        for s in SPLITS for m in first.modalities
    )
    assert differs, "a different seed must change the data or the split"
