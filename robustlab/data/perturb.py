"""The bridge from `perturbations` operators to robustlab's Split and Batch containers.

    split2, frame = perturb_split(split, op, seed)   # frame: example_id + provenance columns
    batch2 = perturb_batch(batch, op, seed)          # a torch batch, selecting within it

`perturb_split` perturbs the whole split in one call, so the selection (exactly
round(fraction · N) examples) and the swap pools span the split. `perturb_batch` selects
within the batch: for fresh corruption every epoch, pass a seed that changes per epoch.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from perturbations import Operator
from perturbations.tensors import apply_torch
from robustlab.data.batch import Batch
from robustlab.data.dataset import Split

PROVENANCE_DTYPES: dict[str, type[pl.DataType]] = {
    "perturbed": pl.Boolean,
    "perturbed_modality": pl.String,
    "op": pl.String,
    "severity": pl.Float64,
    "fraction": pl.Float64,
    "modality": pl.String,  # step<k>_modality
}


def provenance_frame(example_id: np.ndarray, provenance: dict[str, np.ndarray]) -> pl.DataFrame:
    """One row per example: example_id (Int64) and every provenance column, typed."""
    columns: dict[str, pl.Series] = {"example_id": pl.Series(example_id.astype(np.int64))}
    for name, values in provenance.items():
        kind = name.split("_", 1)[1] if name.startswith("step") else name
        dtype = PROVENANCE_DTYPES.get(name) or PROVENANCE_DTYPES[kind]
        columns[name] = pl.Series(name, values).cast(dtype)
    return pl.DataFrame(columns)


def perturb_split(split: Split, op: Operator, seed: int) -> tuple[Split, pl.DataFrame]:
    """The perturbed split (untouched arrays shared, never mutated) and its provenance frame."""
    out = op.apply(split.features, split.masks, split.example_id, seed)
    perturbed = split.replace(features=out.arrays, masks=out.masks)
    return perturbed, provenance_frame(split.example_id, out.provenance)


def perturb_batch(batch: Batch, op: Operator, seed: int) -> Batch:
    """The batch with `op` applied, tensors on the batch's device (example ids = batch.index)."""
    x, mask, _ = apply_torch(op, batch.x, batch.mask, batch.index, seed)
    return Batch(x=x, mask=mask, index=batch.index, label=batch.label)
