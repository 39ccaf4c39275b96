"""Operators on torch tensors (train-time corruption): a round trip through numpy on the CPU.

The randomness is the numpy operators' (keyed by example id), so a torch batch is perturbed
exactly as the same rows of a numpy split would be.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

from perturbations.base import Operator


def apply_torch(
    op: Operator,
    x: Mapping[str, Tensor],
    mask: Mapping[str, Tensor],
    index: Tensor,
    seed: int,
) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, np.ndarray]]:
    """(x, mask, provenance) after `op`; touched tensors come back on their original device
    and dtype, untouched ones are the caller's tensors. Gradients do not flow through."""
    touched = [m for m in op.modalities if m in x]
    arrays = {m: x[m].detach().cpu().numpy() for m in touched}
    masks = {m: mask[m].detach().cpu().numpy() for m in touched}
    ids = index.detach().cpu().numpy().astype(np.int64)
    out = op.apply(arrays, masks, ids, seed)
    new_x, new_mask = dict(x), dict(mask)
    for m in touched:
        new_x[m] = torch.from_numpy(out.arrays[m]).to(device=x[m].device, dtype=x[m].dtype)
        new_mask[m] = torch.from_numpy(out.masks[m]).to(device=mask[m].device)
    return new_x, new_mask, out.provenance
