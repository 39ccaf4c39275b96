"""A final run's test embeddings for slice discovery (`robustlab.embedding_store`): each
modality of the clean test split encoded by the trained method, then PCA-reduced."""

from __future__ import annotations

from typing import Any

import numpy as np

from robustlab.embedding_store import reduce

CHUNK = 4096  # rows per forward pass


def final_embeddings(method: Any, dataset: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(example_id (n,), {modality: (n, ≤ 16) float16}) of the test split, unperturbed: each
    modality through `method.encode` with the data's own presence mask (a missing modality
    gets the method's missing embedding, so such examples form their own cluster)."""
    import torch

    from robustlab.evaluate import device_of

    test = dataset.split("test")
    device = device_of(method)
    was_training = method.training
    method.eval()
    out: dict[str, np.ndarray] = {}
    try:
        with torch.no_grad():
            for m in dataset.modalities:
                parts = []
                for start in range(0, len(test), CHUNK):
                    rows = slice(start, start + CHUNK)
                    x = torch.as_tensor(test.features[m][rows], device=device).float()
                    mask = torch.as_tensor(test.masks[m][rows], device=device)
                    parts.append(method.encode(m, x, mask).float().cpu().numpy())
                out[m] = reduce(np.concatenate(parts))
    finally:
        method.train(was_training)
    return test.example_id.astype(np.int64), out
