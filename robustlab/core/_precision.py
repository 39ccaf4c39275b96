"""Full-precision compute for the closed forms of GRAM and TRIANGLE.

Their scores are differences of products of dot products (a determinant, a squared area), so
they cancel: in bf16 (8 bits of mantissa) a near-degenerate Gram determinant is pure rounding.
They therefore run in float32 (float64 inputs stay float64) with autocast disabled, also
inside a bf16 autocast region of the training loop.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch
from torch import Tensor


def compute_dtype(*tensors: Tensor) -> torch.dtype:
    """float64 if any input is float64, else float32 (bf16 / fp16 inputs are widened)."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def full_precision(ref: Tensor) -> AbstractContextManager[object]:
    """Autocast off on `ref`'s device type, so matmuls run in the dtype of their inputs."""
    return torch.autocast(device_type=ref.device.type, enabled=False)
