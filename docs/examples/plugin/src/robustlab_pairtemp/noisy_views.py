"""`noisy_views`: three noisy views of one latent, one of them sometimes unrelated.

    z ~ N(0, I_k)   per example;   x_m = z W_m + σ_m ε_m   for m in (a, b, c)

with fixed random maps W_m (k × dim, drawn from the seed) and per-modality noise levels
σ_a < σ_b < σ_c by default. For a share `unreliable` of the examples, c is the view of
another, independent latent: it looks like any c but says nothing about this example's a or b.
The slice column `c_reliable` (bool) marks the examples whose c is their own. Retrieving a
from (b, c), the pair (a, b) is the informative one: a method that can learn so (e.g.
`pair_temp_clip`) should beat one that weighs b and c equally, most on `c_reliable = false`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl
from robustlab.data import DatasetOptions, Split, TrimodalDataset
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

NAME = "noisy_views"
MODALITIES = ("a", "b", "c")


@dataclass(frozen=True)
class NoisyViews(DatasetOptions):
    """Options of `noisy_views` (YAML keys = field names); registered by its entry point."""

    n: int = 3000
    latent_dim: int = 8
    dim: int = 16
    noise_a: float = 0.1
    noise_b: float = 0.3
    noise_c: float = 0.6
    unreliable: float = 0.3
    val_fraction: float = 0.1
    test_fraction: float = 0.1

    def __post_init__(self) -> None:
        check_int(NAME, "n", self.n, 3)
        check_int(NAME, "latent_dim", self.latent_dim, 1, 1024)
        check_int(NAME, "dim", self.dim, 1, 4096)
        for m in MODALITIES:
            check_float(NAME, f"noise_{m}", getattr(self, f"noise_{m}"), 0.0, 100.0)
        check_float(NAME, "unreliable", self.unreliable, 0.0, 1.0)
        check_split(NAME, self.n, self.val_fraction, self.test_fraction)

    def build(self, seed: int) -> TrimodalDataset:
        check_seed(NAME, seed)
        data_rng, split_rng = seed_streams(seed, 2)
        ids, sizes = storage_ids(self.n, self.val_fraction, self.test_fraction, split_rng)
        n, k = self.n, self.latent_dim
        maps = {m: data_rng.standard_normal((k, self.dim)) / math.sqrt(k) for m in MODALITIES}
        z = data_rng.standard_normal((n, k))  # (n, k): row p belongs to example ids[p]
        other = data_rng.standard_normal((n, k))  # the unrelated latent of an unreliable c
        reliable = data_rng.random(n) >= self.unreliable  # (n,)
        source = {"a": z, "b": z, "c": np.where(reliable[:, None], z, other)}
        features = {}
        for m in MODALITIES:
            noise = getattr(self, f"noise_{m}") * data_rng.standard_normal((n, self.dim))
            features[m] = (source[m] @ maps[m] + noise).astype(np.float32)  # (n, dim)
        everything = Split(features=features, masks=all_present(n, MODALITIES),
                           example_id=ids, metadata=pl.DataFrame({"c_reliable": reliable}))
        return assemble(NAME, everything, sizes, seed)
