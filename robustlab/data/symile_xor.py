"""`symile_xor`: the Symile paper's binary XOR benchmark (Saporta et al., arXiv 2411.01053).

    a, b ~ Bern(0.5)^d,   i ~ Bern(p_hat) per example,   c = a XOR b if i else c = a

as float32 {0, 1} vectors. The task retrieves b from (a, c) among all 2^d vectors.
Neither a nor c alone says anything about b: I(a; b) = I(c; b) = 0 for every p_hat (c is either
a, or a XOR b, which is uniform and independent of b). Jointly, b = a XOR c whenever i = 1
(and c ≠ a proves i = 1), so I(b; a, c) = d bits at p_hat = 1: pairwise methods (CLIP) stay
at chance 1/2^d while the best possible accuracy is p_hat + (1 - p_hat) / 2^d.
(I(a; c) is zero only at p_hat = 1.)

Every modality's candidate bank is all 2^d vectors: row k holds the bits of k, least
significant first, and `Split.candidate_id[m]` is the row of the example's true vector.
The metadata column `is_xor` (bool) is the indicator i — the slice where b is identifiable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from robustlab.data.dataset import Split, TrimodalDataset
from robustlab.data.registry import DATASETS, DatasetOptions
from robustlab.data.splitting import (
    all_present,
    assemble,
    check_float,
    check_int,
    check_seed,
    check_split,
    seed_streams,
    storage_ids,
)

NAME = "symile_xor"
MODALITIES = ("a", "b", "c")
MAX_BITS = 16  # 2^16 candidates per query is already a large retrieval matrix


@DATASETS.register(NAME)
@dataclass(frozen=True)
class SymileXor(DatasetOptions):
    """Options of `symile_xor` (YAML keys = field names)."""

    d: int = 5
    p_hat: float = 1.0
    n: int = 10000
    val_fraction: float = 0.1
    test_fraction: float = 0.1

    def __post_init__(self) -> None:
        check_int(NAME, "d", self.d, 1, MAX_BITS)
        check_float(NAME, "p_hat", self.p_hat, 0.0, 1.0)
        check_int(NAME, "n", self.n, 3)
        check_split(NAME, self.n, self.val_fraction, self.test_fraction)

    def build(self, seed: int) -> TrimodalDataset:
        check_seed(NAME, seed)
        data_rng, split_rng = seed_streams(seed, 2)
        ids, sizes = storage_ids(self.n, self.val_fraction, self.test_fraction, split_rng)
        a = data_rng.integers(0, 2, size=(self.n, self.d), dtype=np.uint8)  # (n, d) bits
        b = data_rng.integers(0, 2, size=(self.n, self.d), dtype=np.uint8)
        is_xor = data_rng.random(self.n) < self.p_hat  # (n,)
        c = np.where(is_xor[:, None], a ^ b, a)
        bits = {"a": a, "b": b, "c": c}
        everything = Split(
            features={m: x.astype(np.float32) for m, x in bits.items()},
            masks=all_present(self.n, MODALITIES),
            example_id=ids,
            metadata=pl.DataFrame({"is_xor": is_xor}),
            candidate_id={m: bits_to_index(x) for m, x in bits.items()},
        )
        bank = all_bit_vectors(self.d)
        banks = dict.fromkeys(MODALITIES, bank)
        return assemble(NAME, everything, sizes, seed, candidate_banks=banks)


def all_bit_vectors(d: int) -> np.ndarray:
    """(2^d, d) float32: row k holds the bits of k, least significant bit first."""
    k = np.arange(2**d, dtype=np.int64)
    return ((k[:, None] >> np.arange(d)) & 1).astype(np.float32)


def bits_to_index(bits: np.ndarray) -> np.ndarray:
    """(n, d) {0, 1} -> (n,) int64 row in `all_bit_vectors(d)`."""
    weights = np.left_shift(1, np.arange(bits.shape[1], dtype=np.int64))  # (d,) 1, 2, 4, ...
    return bits.astype(np.int64) @ weights
