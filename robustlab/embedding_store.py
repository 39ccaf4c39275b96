"""Test-set embeddings saved beside each final run, for slice discovery's clusters.

`parts/finals/<variant>/seed<k>.emb.npz` holds, for the clean test split, `example_id` (n,)
int64 and one array `emb_<modality>` (n, ≤ 16) float16 per modality: the run's embedding of
that modality (`Method.encode`), centred and projected on its first 16 principal axes over the
test examples. The projection uses no outcome (nothing about correctness), so fitting it on all
test examples cannot leak the confirmation half into the discovery half; the report fits its
own PCA and k-means on the discovery half from these. 16 float16 components per modality keep
a file at 96 bytes per example (about 1 MB for 10,000 examples).

The study writes them as the `emb.npz` payload of a final run's checksummed unit
(`robustlab.study.units`: `embeddings_bytes`); `write_embeddings` writes one file atomically.
A folder without these files (older results) still renders; discovery then slices on metadata
only.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from robustlab.results import atomic_write_bytes
from robustlab.stats.discovery_space import principal_axes

SUFFIX = ".emb.npz"
MAX_COMPONENTS = 16
_PREFIX = "emb_"


def reduce(x: np.ndarray, components: int = MAX_COMPONENTS) -> np.ndarray:
    """(n, D) → (n, min(components, D, n)) float16: centred, on the leading principal axes."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=0)
    if x.shape[1] <= components:
        return centred.astype(np.float16)
    return (centred @ principal_axes(centred, components)).astype(np.float16)


def embeddings_path(run_info: Path) -> Path:
    """`seed<k>.emb.npz` beside a final run's `seed<k>.json`."""
    return run_info.with_name(run_info.name.split(".")[0] + SUFFIX)


def write_embeddings(path: Path, example_id: np.ndarray, arrays: Mapping[str, np.ndarray]
                     ) -> None:
    """Write one run's embeddings atomically (arrays already `reduce`d, rows = example_id)."""
    atomic_write_bytes(path, embeddings_bytes(example_id, arrays))


def embeddings_bytes(example_id: np.ndarray, arrays: Mapping[str, np.ndarray]) -> bytes:
    """The `.emb.npz` content of one run (what a final unit stores as its `emb.npz`)."""
    for name, a in arrays.items():
        if a.shape[0] != example_id.shape[0]:
            raise ValueError(f"embeddings {name!r}: {a.shape[0]} rows for "
                             f"{example_id.shape[0]} example ids")
    named: dict[str, Any] = {_PREFIX + m: np.asarray(a, dtype=np.float16)
                             for m, a in arrays.items()}
    buffer = io.BytesIO()
    np.savez(buffer, example_id=np.asarray(example_id, dtype=np.int64), **named)
    return buffer.getvalue()


def read_embeddings(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(example_id (n,), {modality: (n, d) float64}) of a file written by `write_embeddings`;
    ValueError naming the file when it is not one."""
    try:
        with np.load(path, allow_pickle=False) as data:
            ids = np.asarray(data["example_id"], dtype=np.int64)
            arrays = {k[len(_PREFIX):]: np.asarray(data[k], dtype=np.float64)
                      for k in data.files if k.startswith(_PREFIX)}
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{path}: not an embeddings file ({err})") from err
    order = np.argsort(ids, kind="stable")
    if not arrays or any(a.shape[0] != ids.size or not np.isfinite(a).all()
                         for a in arrays.values()):
        raise ValueError(f"{path}: embeddings missing, of the wrong length, or not finite")
    return ids[order], {m: a[order] for m, a in arrays.items()}


def find_embeddings(folder: Path, variants: list[str]) -> tuple[str, int, Path] | None:
    """(variant, seed, path) of the first variant in `variants` with a saved embeddings file
    (its lowest seed), or None."""
    for variant in variants:
        runs = sorted((folder / "parts" / "finals" / variant).glob(f"seed*{SUFFIX}"),
                      key=lambda p: _seed(p))
        if runs:
            return variant, _seed(runs[0]), runs[0]
    return None


def _seed(path: Path) -> int:
    digits = path.name.split(".")[0].removeprefix("seed")
    return int(digits) if digits.isdigit() else 1 << 30
