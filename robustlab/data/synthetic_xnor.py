"""`synthetic_xnor`: the Gated Symile fragility benchmark (arXiv 2604.05834, DESIGN §5).

Latent bits u, v ∈ {±1}^bits (bits = 16). In ± coding the product is XNOR, and

    A = [u, v, u·v]      B = [u, 1, u]      C = [1, v, v]       so  B ⊙ C = A

on the **signal coordinates** `[0, 3·bits)` = `(0, 48)` by default; coordinates
`[3·bits, dim)` are N(0, distractor_std²) distractors (dim = 128, std = 3). The task retrieves
A from the context (B, C).

Corruption (the benchmark's "swap_signal" mode): each example is corrupted with probability
`corruption`; a corrupted example gets exactly one of B or C (50/50) whose signal coordinates
are replaced by those of another, uniformly drawn example (never itself); its distractors stay.
The `corrupted_modality` metadata column says which: "none", "b" or "c". The perturbation
operator `signal_swap` does the same at evaluation time with `dims=(0, 3·bits)`.
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

NAME = "synthetic_xnor"
MODALITIES = ("a", "b", "c")
CORRUPTED_CODES = ("none", "b", "c")


@DATASETS.register(NAME)
@dataclass(frozen=True)
class SyntheticXnor(DatasetOptions):
    """Options of `synthetic_xnor` (YAML keys = field names)."""

    n: int = 30000
    corruption: float = 0.0
    bits: int = 16
    dim: int = 128
    distractor_std: float = 3.0
    signal_scale: float = 1.0
    val_fraction: float = 0.1
    test_fraction: float = 0.1

    def __post_init__(self) -> None:
        check_int(NAME, "bits", self.bits, 1)
        check_int(NAME, "dim", self.dim, 3 * self.bits)
        check_int(NAME, "n", self.n, 3)
        check_float(NAME, "corruption", self.corruption, 0.0, 1.0)
        check_float(NAME, "distractor_std", self.distractor_std, 0.0, np.inf, open_high=True)
        check_float(NAME, "signal_scale", self.signal_scale, 0.0, np.inf,
                    open_low=True, open_high=True)
        check_split(NAME, self.n, self.val_fraction, self.test_fraction)

    @property
    def signal_dims(self) -> tuple[int, int]:
        """(start, stop) of the signal coordinates in every modality; the rest are distractors."""
        return (0, 3 * self.bits)

    def build(self, seed: int) -> TrimodalDataset:
        check_seed(NAME, seed)
        data_rng, split_rng = seed_streams(seed, 2)
        ids, sizes = storage_ids(self.n, self.val_fraction, self.test_fraction, split_rng)
        features, corrupted = self._draw(data_rng)
        codes = pl.Series("corrupted_modality", corrupted)  # int8 codes 0/1/2
        labels = codes.replace_strict(dict(enumerate(CORRUPTED_CODES)), return_dtype=pl.String)
        everything = Split(
            features=features,
            masks=all_present(self.n, MODALITIES),
            example_id=ids,
            metadata=pl.DataFrame([labels]),
        )
        return assemble(NAME, everything, sizes, seed)

    def _draw(self, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The three (n, dim) float32 arrays and the (n,) int8 corruption codes."""
        n, k = self.n, self.bits
        u = _pm_one(rng, n, k)  # (n, bits) ±1
        v = _pm_one(rng, n, k)
        ones = np.ones((n, k), dtype=np.float32)
        blocks = {"a": (u, v, u * v), "b": (u, ones, u), "c": (ones, v, v)}
        features = {m: self._embed(parts, rng) for m, parts in blocks.items()}
        corrupted = self._corrupt(features, rng)
        return features, corrupted

    def _embed(self, parts: tuple[np.ndarray, ...], rng: np.random.Generator) -> np.ndarray:
        """Signal blocks at [0, 3·bits), scaled distractors after them: (n, dim) float32."""
        n, stop = self.n, 3 * self.bits
        out = np.empty((n, self.dim), dtype=np.float32)
        np.multiply(np.concatenate(parts, axis=1), self.signal_scale, out=out[:, :stop])
        noise = rng.standard_normal((n, self.dim - stop), dtype=np.float32)
        # scale and copy into place in one pass (standard_normal's `out` must be contiguous)
        np.multiply(noise, np.float32(self.distractor_std), out=out[:, stop:])
        return out

    def _corrupt(self, features: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
        """Swap B's or C's signal with another example's for a `corruption` share; in place."""
        n, stop = self.n, 3 * self.bits
        hit = rng.random(n) < self.corruption
        pick_b = rng.random(n) < 0.5
        codes = np.zeros(n, dtype=np.int8)
        codes[hit & pick_b], codes[hit & ~pick_b] = 1, 2
        for code, modality in ((1, "b"), (2, "c")):
            rows = np.flatnonzero(codes == code)
            # another example, never the row itself: a shift by 1..n-1 modulo n
            source = (rows + rng.integers(1, n, size=rows.size)) % n
            x = features[modality]
            x[rows, :stop] = x[source, :stop]  # the right side is read before any write
        return codes


def _pm_one(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """(n, k) float32 of independent fair ±1 draws."""
    bits = rng.integers(0, 2, size=(n, k), dtype=np.int8)
    return (2 * bits - 1).astype(np.float32)
