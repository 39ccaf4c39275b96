"""Study-like results with planted slices (or none): the ground truth that slice discovery is
measured against, Domino-style (Eyuboglu et al., ICLR 2022), in the suite and in
`python -m bench discovery`.

One condition ("clean"), two variants ("a", "b") × `seeds` training seeds × n test examples.
Per example: `columns` metadata columns (three in four categorical with 2–8 levels of unequal
shares, the rest numeric) and, per modality ("a", "b", "c"), a 16-dimensional embedding drawn
from a mixture of `components` Gaussian clusters (unequal weights). Correctness: a shared
per-example difficulty (paired results are correlated), a per-(variant, seed) offset (seeds
differ) and a Bernoulli draw per (variant, seed, example). With no plant, accuracy does not
depend on any column or cluster: every finding is false.

Plants (`Plant`): a slice — a conjunction of 1–3 categorical levels, or one mixture component of
one modality — where variant "a" loses `drop` accuracy (kind "failure"), or where "a", ahead of
"b" by `lead` everywhere else, falls `drop` behind it (kind "reversal").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from robustlab.stats.discovery import Embeddings

MODALITIES = ("a", "b", "c")
DIM = 16


@dataclass(frozen=True)
class Plant:
    """kind: "failure" | "reversal"; where: "metadata" (a conjunction of `depth` levels) or
    "cluster" (one mixture component); coverage: (low, high) share of the examples the slice
    must cover; drop: accuracy points lost by "a" on it; lead: "a"'s edge elsewhere
    (reversal)."""

    kind: Literal["failure", "reversal"] = "failure"
    where: Literal["metadata", "cluster"] = "metadata"
    depth: int = 1
    coverage: tuple[float, float] = (0.04, 0.06)
    drop: float = 0.2
    lead: float = 0.15


@dataclass(frozen=True)
class Planted:
    """pred: the predictions frame; embeddings: per-modality test embeddings; truth: (n,) bool
    of the planted slice (all False without a plant); description: the slice in words."""

    pred: pl.DataFrame
    embeddings: Embeddings
    truth: np.ndarray
    description: str


def planted_results(n: int, rng: np.random.Generator, *, plant: Plant | None = None,
                    columns: int = 20, components: int = 20, seeds: int = 3,
                    accuracy: float = 0.7, lead: float = 0.1) -> Planted:
    """One data set (module docstring); without a plant, "a" leads "b" by `lead` on every
    example (so a comparison is significant and its reversals can be searched, falsely)."""
    meta = _metadata(n, columns, rng)
    comp, emb = _embeddings(n, components, rng)
    truth, text = _slice(plant, meta, comp, rng) if plant else (np.zeros(n, bool), "none")
    p_b = 1 / (1 + np.exp(-(np.log(accuracy / (1 - accuracy)) + rng.normal(0.0, 1.0, n))))
    p = {"a": np.clip(p_b + lead, 0, 1), "b": p_b}  # (n,) each; ease shared by both
    if plant is not None and plant.kind == "failure":
        p["a"] = np.clip(p["a"] - plant.drop * truth, 0, 1)
    elif plant is not None:
        p["a"] = np.clip(np.where(truth, p_b - plant.drop, p_b + plant.lead), 0, 1)
    frames = []
    for m in ("a", "b"):
        for s in range(seeds):
            shift = rng.normal(0.0, 0.01)  # seed-to-seed accuracy jitter
            correct = rng.random(n) < np.clip(p[m] + shift, 0, 1)
            frames.append(pl.DataFrame({"method": m, "seed": s, "condition": "clean",
                                        "example_id": np.arange(n), "correct": correct}))
    meta = meta.with_columns(example_id=pl.Series(np.arange(n))) if meta.width \
        else pl.DataFrame({"example_id": np.arange(n)})
    pred = pl.concat(frames).join(meta, on="example_id")
    ids = np.arange(n, dtype=np.int64)
    return Planted(pred, Embeddings(ids, emb, "planted mixture"), truth, text)


def _metadata(n: int, columns: int, rng: np.random.Generator) -> pl.DataFrame:
    out = {}
    for j in range(columns):
        name = f"col{j:02d}"
        if j % 4 == 3:
            out[name] = rng.normal(0.0, 1.0, n)
        else:
            k = int(rng.integers(2, 9))
            share = rng.dirichlet(np.full(k, 2.0))
            out[name] = np.array([f"v{i}" for i in range(k)])[rng.choice(k, n, p=share)]
    return pl.DataFrame(out)


def _embeddings(n: int, components: int, rng: np.random.Generator
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    comp, emb = {}, {}
    for m in MODALITIES:
        weight = rng.dirichlet(np.full(components, 2.0))
        centre = rng.normal(0.0, 3.0, (components, DIM))
        c = rng.choice(components, n, p=weight)
        comp[m] = c
        emb[m] = centre[c] + rng.normal(0.0, 1.0, (n, DIM))
    return comp, emb


def _slice(plant: Plant, meta: pl.DataFrame, comp: dict[str, np.ndarray],
           rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """(mask, words) of a random slice whose coverage lies in plant.coverage."""
    low, high = plant.coverage
    for _ in range(10_000):
        if plant.where == "cluster":
            m = str(rng.choice(MODALITIES))
            k = int(rng.integers(comp[m].max() + 1))
            mask = comp[m] == k
            text = f"{m} component {k}"
        else:
            cats = [c for c in meta.columns if meta[c].dtype == pl.String]
            cols = rng.choice(cats, plant.depth, replace=False)
            mask = np.ones(meta.height, dtype=bool)
            parts = []
            for c in cols:
                value = str(rng.choice(meta[c].unique().sort().to_numpy()))
                mask &= meta[c].to_numpy() == value
                parts.append(f"{c} = {value}")
            text = " ∧ ".join(parts)
        if low <= mask.mean() <= high:
            return mask, text
    raise ValueError(f"no slice covers {low:.0%}–{high:.0%} of {meta.height} examples")


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """|a ∩ b| / |a ∪ b| of two (n,) bool masks."""
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 0.0
