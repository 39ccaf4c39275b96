"""random_missing: per-example missingness across modalities (which one drops varies)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations.base import (
    NONE,
    OPERATORS,
    Operator,
    Perturbed,
    check_fraction,
    check_inputs,
    check_modality,
    check_selected,
    select_examples,
)
from perturbations.hashing import counter_hashes, example_keys, stream_key


@OPERATORS.register("random_missing")
@dataclass(frozen=True, kw_only=True)
class RandomMissing(Operator):
    """Each touched example loses `drop` of the modalities in `among`, chosen uniformly per
    example (mask False, values zeroed); the others keep all of them.

    Fraction only (level = fraction). `perturbed_modality` names what was dropped, joined
    with "+" in the order of `among` (e.g. "b" or "a+c"). Chunk-invariant given the selection.
    """

    name: ClassVar[str] = "random_missing"

    among: tuple[str, ...]
    drop: int = 1
    fraction: float = 1.0

    def __post_init__(self) -> None:
        among = self.among
        if not isinstance(among, tuple | list) or len(among) < 2 or len(set(among)) != len(among):
            raise ValueError(f"random_missing.among: must be >= 2 distinct modality names, "
                             f"got {among!r}")
        for m in among:
            check_modality(self.name, "among", m)
        object.__setattr__(self, "among", tuple(among))  # YAML gives a list
        if isinstance(self.drop, bool) or not isinstance(self.drop, int) \
                or not 1 <= self.drop < len(among):
            raise ValueError(f"random_missing.drop: must be an integer in 1..{len(among) - 1} "
                             f"(fewer than the {len(among)} modalities), got {self.drop!r}")
        check_fraction(self.name, self.fraction)

    @property
    def modalities(self) -> tuple[str, ...]:
        return self.among

    @property
    def level(self) -> float:
        return float(self.fraction)

    def describe(self) -> str:
        return f"{self.name}({'+'.join(self.among)}, drop={self.drop}, fraction={self.fraction!r})"

    def select(self, example_ids: np.ndarray, seed: int) -> np.ndarray:
        return select_examples(example_ids, seed, self.fraction, self.name, "+".join(self.among))

    def dropped(self, example_ids: np.ndarray, seed: int) -> np.ndarray:
        """(N, M) bool: which of `among` each example would lose if touched."""
        stream = stream_key(seed, "values", self.name, "+".join(self.among), self.drop)
        h = counter_hashes(example_keys(example_ids, stream), len(self.among))  # (N, M)
        ranks = np.argsort(np.argsort(h, axis=1), axis=1)  # (N, M): a uniform random ranking
        return ranks < self.drop

    def apply(
        self,
        arrays: Mapping[str, np.ndarray],
        masks: Mapping[str, np.ndarray],
        example_ids: np.ndarray,
        seed: int,
        *,
        selected: np.ndarray | None = None,
    ) -> Perturbed:
        n = check_inputs(self.name, arrays, masks, example_ids, self.among)
        check_selected(self.name, selected, n)
        chosen = self.select(example_ids, seed) if selected is None else selected
        lost = self.dropped(example_ids, seed) & chosen[:, None]  # (N, M)
        out_x, out_m = dict(arrays), dict(masks)
        for col, m in enumerate(self.among):
            rows = np.flatnonzero(lost[:, col])
            out_x[m], out_m[m] = arrays[m].copy(), masks[m].copy()
            out_x[m][rows] = 0
            out_m[m][rows] = False
        return Perturbed(out_x, out_m, self.provenance(chosen, lost))

    def provenance(self, chosen: np.ndarray, lost: np.ndarray) -> dict[str, np.ndarray]:
        code = lost.astype(np.int64) @ (1 << np.arange(len(self.among)))  # (N,) bitset
        names = [
            "+".join(m for b, m in enumerate(self.among) if c >> b & 1) or NONE
            for c in range(1 << len(self.among))
        ]
        return {
            "perturbed": chosen.copy(),
            "perturbed_modality": np.asarray(names)[code],
            "op": np.where(chosen, self.name, NONE),
            "severity": np.zeros(chosen.shape[0]),
            "fraction": np.where(chosen, float(self.fraction), 0.0),
        }
