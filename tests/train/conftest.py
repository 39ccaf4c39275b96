"""Fixtures of the training/evaluation tests: tiny real datasets and method builders."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

from robustlab.data import DATASETS, TrimodalDataset
from robustlab.methods import ENCODERS, METHODS, Method

Builder = Callable[..., Method]


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One intra-op thread per test process: the suite runs `-n 2` on 2 cores, and two
    threads per worker oversubscribe them (tiny models get several times slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def xor_small() -> TrimodalDataset:
    """symile_xor, d = 2 bits, p̂ = 1: 4 candidates, 480 training examples."""
    return DATASETS.get("symile_xor")(d=2, n=600, p_hat=1.0).build(0)


@pytest.fixture(scope="session")
def pid_small() -> TrimodalDataset:
    return DATASETS.get("pid")(setting="synergy", n=600).build(0)


@pytest.fixture(scope="session")
def build() -> Builder:
    """build(name, dataset, seed=0, dim=16, protocol="retrieval", **options) -> a fresh method
    of that registry name, its options made for `protocol` as a study makes them."""

    def make(name: str, dataset: TrimodalDataset, seed: int = 0, dim: int = 16,
             protocol: str = "retrieval", **options: Any) -> Method:
        cls = METHODS.get(name)
        encoder = ENCODERS.get("mlp")(dim=dim, depth=2, hidden=dim)
        resolved = cls.for_protocol(cls.Options(**options), protocol)
        return cls.build(resolved, dataset.dims, encoder, seed=seed)

    return make
