"""`pid`: synthetic data with redundant, unique or synergistic label information.

The construction of FactorCL (Liang et al., NeurIPS 2023) and the PID synthetic data (Liang et
al., "Quantifying & Modeling Multimodal Interactions"), extended to three modalities: latent
blocks z_s (shared by all modalities) and z_a, z_b, z_c (one unique block per modality), each
N(0, I_latent_dim). Modality m sees its two blocks through a fixed random matrix:

    x_m = [z_s, z_m] @ W_m + noise_std · ε,     W_m ~ N(0, 1 / (2 latent_dim)), (2L, dim)

and the binary label depends on the blocks the `setting` names (r, r₁, r₂ fixed unit vectors):
- `redundancy`: y = [⟨r, z_s⟩ > 0]: any single modality predicts it;
- `uniqueness`: y = [⟨r, z_u⟩ > 0] with u = `unique_modality`: only that modality predicts it;
- `synergy`:    y = [⟨r₁, z_a⟩ · ⟨r₂, z_b⟩ > 0] (an XOR of two signs): no single modality
  says anything about y; a and b together determine it (a bilinear function of x_a, x_b).
The linear-probe protocol reads `label` and `num_classes` (= 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robustlab.data.dataset import Split, TrimodalDataset
from robustlab.data.registry import DATASETS, DatasetOptions
from robustlab.data.splitting import (
    all_present,
    assemble,
    check_choice,
    check_float,
    check_int,
    check_seed,
    check_split,
    seed_streams,
    storage_ids,
)

NAME = "pid"
MODALITIES = ("a", "b", "c")
SETTINGS = ("redundancy", "uniqueness", "synergy")
SYNERGY_PAIR = ("a", "b")  # the two modalities whose unique blocks jointly define a synergy label


@DATASETS.register(NAME)
@dataclass(frozen=True)
class Pid(DatasetOptions):
    """Options of `pid` (YAML keys = field names)."""

    setting: str = "redundancy"
    n: int = 10000
    latent_dim: int = 8
    dim: int = 32
    noise_std: float = 0.1
    unique_modality: str = "a"
    val_fraction: float = 0.1
    test_fraction: float = 0.1

    def __post_init__(self) -> None:
        check_choice(NAME, "setting", self.setting, SETTINGS)
        check_choice(NAME, "unique_modality", self.unique_modality, MODALITIES)
        check_int(NAME, "latent_dim", self.latent_dim, 1)
        # dim >= 2 latent_dim keeps both blocks linearly recoverable from each modality; near
        # equality the random map is ill-conditioned and noise swamps a linear probe (use ~4x)
        check_int(NAME, "dim", self.dim, 2 * self.latent_dim)
        check_int(NAME, "n", self.n, 3)
        check_float(NAME, "noise_std", self.noise_std, 0.0, np.inf, open_high=True)
        check_split(NAME, self.n, self.val_fraction, self.test_fraction)

    def build(self, seed: int) -> TrimodalDataset:
        check_seed(NAME, seed)
        latent_rng, map_rng, noise_rng, split_rng = seed_streams(seed, 4)
        ids, sizes = storage_ids(self.n, self.val_fraction, self.test_fraction, split_rng)
        blocks = {k: latent_rng.standard_normal((self.n, self.latent_dim))
                  for k in ("s", *MODALITIES)}  # each (n, L)
        features = {m: self._observe(blocks["s"], blocks[m], map_rng, noise_rng)
                    for m in MODALITIES}
        everything = Split(
            features=features,
            masks=all_present(self.n, MODALITIES),
            example_id=ids,
            label=self._label(blocks, map_rng),
        )
        return assemble(NAME, everything, sizes, seed, num_classes=2)

    def _observe(self, shared: np.ndarray, unique: np.ndarray, map_rng: np.random.Generator,
                 noise_rng: np.random.Generator) -> np.ndarray:
        """x_m = [z_s, z_m] @ W_m + noise: (n, dim) float32."""
        two_l = 2 * self.latent_dim
        w = map_rng.standard_normal((two_l, self.dim)) / np.sqrt(two_l)  # (2L, dim)
        x = np.concatenate([shared, unique], axis=1) @ w  # (n, dim)
        x += self.noise_std * noise_rng.standard_normal(x.shape)
        return x.astype(np.float32)

    def _label(self, blocks: dict[str, np.ndarray], map_rng: np.random.Generator) -> np.ndarray:
        """(n,) int64 in {0, 1} from the blocks the setting names."""
        r1, r2 = (_unit(map_rng.standard_normal(self.latent_dim)) for _ in range(2))
        if self.setting == "redundancy":
            score = blocks["s"] @ r1
        elif self.setting == "uniqueness":
            score = blocks[self.unique_modality] @ r1
        else:
            first, second = SYNERGY_PAIR
            score = (blocks[first] @ r1) * (blocks[second] @ r2)
        return (score > 0).astype(np.int64)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)
