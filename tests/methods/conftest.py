"""tests/methods fixtures: tiny modality widths, a D=16 encoder, B=8 batches with masks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import pytest
import torch

from robustlab.data.batch import Batch
from robustlab.methods import METHODS, Method
from robustlab.methods.encoders import Mlp

DIMS = {"a": 5, "b": 6, "c": 7}
ENCODER = Mlp(dim=16, depth=2, hidden=16)

# Shrink only what makes the battery slow; every other option stays at its default.
SMALL: dict[str, dict[str, Any]] = {
    "comm": {"fusion_dim": 16, "fusion_heads": 2, "proj_dim": 16, "num_tokens": 2},
    "coral": {"fusion_dim": 16, "fusion_heads": 2, "proj_dim": 16, "num_tokens": 2},
    "gated_symile": {"key_dim": 8},
}


def small_options(name: str, **changes: Any) -> Any:
    cls = METHODS.get(name)
    return replace(cls.Options(**SMALL.get(name, {})), **changes)


def make_batch(
    seed: int = 0, size: int = 8, missing: Mapping[str, list[int]] | None = None
) -> Batch:
    """Gaussian features; `missing` lists, per modality, the rows whose mask is False (their
    values zeroed, as the data layer does)."""
    g = torch.Generator().manual_seed(seed)
    x = {m: torch.randn(size, d, generator=g) for m, d in DIMS.items()}
    mask = {m: torch.ones(size, dtype=torch.bool) for m in DIMS}
    for m, rows in (missing or {}).items():
        mask[m][rows] = False
        x[m][rows] = 0.0
    return Batch(x=x, mask=mask, index=torch.arange(size), label=torch.arange(size) % 2)


@pytest.fixture
def build() -> Callable[..., Method]:
    def _build(name: str, seed: int = 0, **changes: Any) -> Method:
        return METHODS.get(name).build(small_options(name, **changes), DIMS, ENCODER, seed=seed)

    return _build


@pytest.fixture
def batch() -> Batch:
    """Every modality missing on some rows, row 7 missing everything."""
    return make_batch(0, missing={"a": [0, 7], "b": [1, 2, 7], "c": [3, 7]})


@pytest.fixture(name="make_batch")
def make_batch_fixture() -> Callable[..., Batch]:
    return make_batch


@pytest.fixture(name="small_options")
def small_options_fixture() -> Callable[..., Any]:
    return small_options


@pytest.fixture(name="dims")
def dims_fixture() -> dict[str, int]:
    return dict(DIMS)


@pytest.fixture(name="encoder")
def encoder_fixture() -> Mlp:
    return ENCODER
