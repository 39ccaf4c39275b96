"""Helpers shared by the generators: option checks, seed streams and the seeded split.

Every check raises `ValueError` naming `<dataset>.<field>`, the bad value and the valid range,
so a study file's typo reads as `symile_xor.p_hat: must be in [0, 1], got 1.5`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from robustlab.data.dataset import SPLITS, Split, TrimodalDataset


def check_int(owner: str, field: str, value: object, minimum: int, maximum: int | None = None
              ) -> None:
    """`value` must be an int (not a bool) in [minimum, maximum]."""
    top = "inf" if maximum is None else str(maximum)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{owner}.{field}: must be an integer in [{minimum}, {top}], "
                         f"got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{owner}.{field}: must be in [{minimum}, {top}], got {value}")


def check_float(owner: str, field: str, value: object, low: float, high: float,
                *, open_low: bool = False, open_high: bool = False) -> None:
    """`value` must be a real number in the interval [low, high] (ends open where asked)."""
    interval = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{owner}.{field}: must be a number in {interval}, got {value!r}")
    x = float(value)
    too_low = x <= low if open_low else x < low
    too_high = x >= high if open_high else x > high
    if not np.isfinite(x) or too_low or too_high:
        raise ValueError(f"{owner}.{field}: must be in {interval}, got {value}")


def check_choice(owner: str, field: str, value: object, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"{owner}.{field}: must be one of {list(valid)}, got {value!r}")


def check_split(owner: str, n: int, val_fraction: float, test_fraction: float) -> None:
    """Validate the split fractions and that every split of `n` rows is non-empty."""
    check_float(owner, "val_fraction", val_fraction, 0.0, 1.0, open_low=True, open_high=True)
    check_float(owner, "test_fraction", test_fraction, 0.0, 1.0, open_low=True, open_high=True)
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(f"{owner}.val_fraction + {owner}.test_fraction: must be < 1 so the "
                         f"train split is non-empty, got {val_fraction} + {test_fraction}")
    sizes = split_sizes(n, val_fraction, test_fraction)
    for name, size in sizes.items():
        if size < 1:
            raise ValueError(f"{owner}.n: {n} examples leave the {name} split empty with "
                             f"val_fraction={val_fraction}, test_fraction={test_fraction}; "
                             "raise n or the fraction")


def split_sizes(n: int, val_fraction: float, test_fraction: float) -> dict[str, int]:
    n_val, n_test = round(val_fraction * n), round(test_fraction * n)
    return {"train": n - n_val - n_test, "val": n_val, "test": n_test}


def check_seed(owner: str, seed: object) -> None:
    check_int(owner, "seed", seed, 0)


def seed_streams(seed: int, count: int) -> list[np.random.Generator]:
    """`count` independent generators from one seed (data draws, the split, ...)."""
    children = np.random.SeedSequence(seed).spawn(count)
    return [np.random.default_rng(child) for child in children]


def storage_ids(n: int, val_fraction: float, test_fraction: float,
                rng: np.random.Generator) -> tuple[np.ndarray, dict[str, int]]:
    """A seeded split of example ids range(n), laid out as contiguous storage blocks.

    Returns `ids` (n,) int64 and the split sizes: storage rows [0, n_train) hold the train
    examples, then val, then test; ids are sorted within each block. Generators draw row `p`'s
    values for example `ids[p]`, so every split is a view of one array (no gather copy). The
    examples are i.i.d., so this is the same distribution as drawing first and splitting after.
    """
    sizes = split_sizes(n, val_fraction, test_fraction)
    order = rng.permutation(n)
    cut = np.cumsum([sizes[s] for s in SPLITS])[:-1]
    ids = np.concatenate([np.sort(part) for part in np.split(order, cut)]).astype(np.int64)
    return ids, sizes


def assemble(
    name: str,
    everything: Split,
    sizes: Mapping[str, int],
    split_seed: int,
    *,
    num_classes: int | None = None,
    candidate_banks: Mapping[str, np.ndarray] | None = None,
) -> TrimodalDataset:
    """Cut one Split laid out as [train | val | test] blocks into the dataset's splits."""
    modalities = tuple(everything.features)
    if len(modalities) != 3:
        raise ValueError(f"{name}: a trimodal dataset needs 3 modalities, got {modalities}")
    splits, start = {}, 0
    for split in SPLITS:
        splits[split] = _block(everything, start, start + sizes[split])
        start += sizes[split]
    return TrimodalDataset(
        name=name,
        modalities=(modalities[0], modalities[1], modalities[2]),
        splits=splits,
        split_seed=split_seed,
        num_classes=num_classes,
        candidate_banks=dict(candidate_banks or {}),
    )


def _block(full: Split, start: int, stop: int) -> Split:
    """Rows [start, stop) of `full` as views (arrays are never mutated after building)."""
    return Split(
        features={m: v[start:stop] for m, v in full.features.items()},
        masks={m: v[start:stop] for m, v in full.masks.items()},
        example_id=full.example_id[start:stop],
        label=None if full.label is None else full.label[start:stop],
        metadata=full.metadata[start:stop],
        candidate_id={m: v[start:stop] for m, v in full.candidate_id.items()},
    )


def all_present(n: int, modalities: tuple[str, ...]) -> dict[str, np.ndarray]:
    return {m: np.ones(n, dtype=bool) for m in modalities}
