"""The dataset contract battery: `check_dataset(cls, options)` (re-exported by
`robustlab.testing`): the checks every registered dataset passes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from perturbations.testing import RuleBroken, ensure, pick, run_rules
from robustlab.data.batch import Batch
from robustlab.data.dataset import SPLITS, TrimodalDataset
from robustlab.data.registry import check_dataset_class
from robustlab.results import is_reserved_column, reserved_columns_text

Options = Mapping[str, Any]


def rule_interface(cls: Any, options: Options) -> None:
    """A frozen dataclass subclassing DatasetOptions with `build` (the registry checks
    plugins with the same function)."""
    check_dataset_class(cls)


def rule_unknown_option(cls: Any, options: Options) -> None:
    """An unknown option is a TypeError naming it (no **kwargs catch-all)."""
    try:
        cls(**options, no_such_option=1)
    except TypeError as err:
        ensure("no_such_option" in str(err), f"the error does not name the option: {err}")
    else:
        raise RuleBroken("the unknown option 'no_such_option' was accepted")


def rule_bad_seed(cls: Any, options: Options) -> None:
    """build(-1) is a ValueError naming the seed and the value."""
    try:
        cls(**options).build(-1)
    except ValueError as err:
        ensure("seed" in str(err) and "-1" in str(err), f"unclear error for seed -1: {err}")
    else:
        raise RuleBroken("build(-1) was accepted")


def rule_contract(cls: Any, options: Options) -> None:
    """The TrimodalDataset contract: three modalities, the three splits, float32 features,
    bool masks with zeroed missing rows, int64 ids unique across splits, labels in range,
    slice columns that are not results columns, candidate banks that match."""
    ds = cls(**options).build(3)
    ensure(isinstance(ds, TrimodalDataset), f"build returned {type(ds).__name__}")
    ensure(ds.split_seed == 3, f"split_seed is {ds.split_seed}, the build seed was 3")
    ensure(len(set(ds.modalities)) == 3, f"modalities {ds.modalities}: need 3 distinct names")
    ensure(set(ds.splits) == set(SPLITS), f"splits {sorted(ds.splits)}, want {list(SPLITS)}")
    for split_name in SPLITS:
        _check_split(ds, split_name)
    ids = np.concatenate([ds.split(s).example_id for s in SPLITS])
    ensure(np.unique(ids).size == ids.size, "example ids repeat across splits")
    clash = sorted(c for c in ds.slice_columns if is_reserved_column(c))
    ensure(not clash, f"slice columns {clash} reuse names the harness writes into "
                      f"predictions.parquet ({reserved_columns_text()})")


def _check_split(ds: TrimodalDataset, name: str) -> None:
    split = ds.split(name)
    n = len(split)
    ensure(n > 0, f"{name} is empty")
    ensure(split.example_id.dtype == np.int64 and split.example_id.shape == (n,),
           f"{name}.example_id must be int64 ({n},), got {split.example_id.dtype}"
           f"{split.example_id.shape}")
    ensure(set(split.features) == set(split.masks) == set(ds.modalities),
           f"{name}: features/masks keys differ from the modalities {ds.modalities}")
    for m in ds.modalities:
        x, mask = split.features[m], split.masks[m]
        ensure(x.dtype == np.float32 and x.shape == (n, ds.dims[m]),
               f"{name}.features[{m!r}] must be float32 ({n}, {ds.dims[m]}), got "
               f"{x.dtype}{x.shape}")
        ensure(np.isfinite(x).all(), f"{name}.features[{m!r}] has non-finite values")
        ensure(mask.dtype == np.bool_ and mask.shape == (n,),
               f"{name}.masks[{m!r}] must be bool ({n},), got {mask.dtype}{mask.shape}")
        ensure(not x[~mask].any(), f"{name}.features[{m!r}]: missing rows must be zeros")
    if split.label is not None:
        ensure(split.label.dtype == np.int64 and ds.num_classes is not None,
               f"{name}.label must be int64 with num_classes set")
        ensure(split.label.min() >= 0 and split.label.max() < ds.num_classes,
               f"{name}.label outside [0, num_classes={ds.num_classes})")
    ensure(not split.metadata.width or split.metadata.height == n,
           f"{name}.metadata has {split.metadata.height} rows, want {n}")
    ensure(list(split.metadata.columns) == ds.slice_columns,
           f"{name}.metadata columns differ from the test split's")
    for target, rows in split.candidate_id.items():
        bank = ds.candidate_banks[target]
        ensure(rows.dtype == np.int64 and rows.shape == (n,), f"{name}.candidate_id[{target!r}]"
                                                              f" must be int64 ({n},)")
        ensure(np.array_equal(bank[rows], split.features[target]),
               f"{name}: candidate bank rows of {target!r} differ from the features")
    batch = split.to_batch(np.arange(min(n, 5)))
    ensure(isinstance(batch, Batch) and batch.size == min(n, 5), f"{name}.to_batch failed")


def rule_deterministic(cls: Any, options: Options) -> None:
    """The same seed gives the same data and split; another seed changes them."""
    made = cls(**options)
    first, again, other = made.build(5), made.build(5), made.build(6)
    for s in SPLITS:
        a, b = first.split(s), again.split(s)
        ensure(np.array_equal(a.example_id, b.example_id), f"seed 5 twice: {s} ids differ")
        for m in first.modalities:
            ensure(np.array_equal(a.features[m], b.features[m]),
                   f"seed 5 twice: {s}.features[{m!r}] differ")
        ensure(a.metadata.equals(b.metadata), f"seed 5 twice: {s}.metadata differs")
    differs = any(
        not np.array_equal(first.split(s).example_id, other.split(s).example_id)
        or not np.array_equal(first.split(s).features[m], other.split(s).features[m])
        for s in SPLITS for m in first.modalities)
    ensure(differs, "seeds 5 and 6 give the same data and split: the seed does nothing")


DATASET_RULES: dict[str, Callable[[Any, Options], None]] = {
    "interface": rule_interface,
    "unknown_option": rule_unknown_option,
    "bad_seed": rule_bad_seed,
    "contract": rule_contract,
    "deterministic": rule_deterministic,
}
"""Every rule of the dataset battery, in the order `check_dataset` runs them."""


def check_dataset(cls: type, options: Mapping[str, Any] | None = None, *,
                  rules: Iterable[str] | None = None) -> None:
    """Run the dataset battery on `cls(**options)` (small options keep it fast); raise
    ContractError naming every rule that broke. `rules` picks a subset of DATASET_RULES."""
    chosen = pick(list(DATASET_RULES), rules, "dataset")
    values = dict(options or {})
    checks = {r: (lambda r=r: DATASET_RULES[r](cls, values)) for r in chosen}
    run_rules(f"dataset {getattr(cls, '__name__', cls)!s}", checks)

