"""Argument validation shared by the core math. Errors name the argument and what is valid."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def check_embeddings(name: str, embeddings: Sequence[Tensor], *, min_count: int = 1) -> None:
    """Every tensor is 2-D, all share one shape (B, D); at least `min_count` of them."""
    if len(embeddings) < min_count:
        raise ValueError(f"{name}: need at least {min_count} tensors of shape (B, D), "
                         f"got {len(embeddings)}")
    first = embeddings[0]
    for i, emb in enumerate(embeddings):
        if not isinstance(emb, Tensor):
            raise ValueError(f"{name}[{i}]: expected a torch.Tensor, got {type(emb).__name__}")
        if emb.dim() != 2:
            raise ValueError(f"{name}[{i}]: expected shape (B, D), got {tuple(emb.shape)}")
        if emb.shape != first.shape:
            raise ValueError(f"{name}[{i}]: shape {tuple(emb.shape)} differs from "
                             f"{name}[0] shape {tuple(first.shape)}; all must be (B, D)")


def check_candidates(candidates: Tensor, dim: int) -> None:
    """Candidates are a (C, D) matrix with the context's embedding width D."""
    if candidates.dim() != 2 or candidates.shape[1] != dim:
        raise ValueError(f"candidates: expected shape (C, {dim}), got {tuple(candidates.shape)}")


def check_logit_scale(logit_scale: Tensor | float) -> None:
    """The already-exponentiated scale: a positive scalar (float or 0-d / 1-element tensor).

    NaN passes on purpose: a NaN scale means training diverged, and the NaN loss it yields is
    what the trainer turns into DivergedError (a failed trial), not a usage error."""
    if isinstance(logit_scale, Tensor):
        if logit_scale.numel() != 1:
            raise ValueError(f"logit_scale: expected a scalar, got shape "
                             f"{tuple(logit_scale.shape)}")
        value = float(logit_scale.detach().reshape(()))
    else:
        value = float(logit_scale)
    if value <= 0:
        raise ValueError(f"logit_scale: must be > 0 (it is exp(log_scale)), got {value}")


def check_gate_context(num_modalities: int, dim: int, target: int, context: Sequence[Tensor],
                       candidates: Tensor, pairs: bool) -> int:
    """A gate's target, its M-1 context embeddings (B, dim) and candidates: shared (C, dim),
    or per query (B, K, dim) when `pairs`. Returns B."""
    if not isinstance(target, int) or not 0 <= target < num_modalities:
        raise ValueError(f"target: must be an int in [0, {num_modalities}), got {target!r}")
    if len(context) != num_modalities - 1:
        raise ValueError(f"context: expected {num_modalities - 1} tensors (every "
                         f"modality but the target), got {len(context)}")
    check_embeddings("context", context)
    batch, width = context[0].shape
    if width != dim:
        raise ValueError(f"context: embedding width must be dim={dim}, got {width}")
    if not pairs:
        check_candidates(candidates, dim)
    elif candidates.dim() != 3 or candidates.shape[0] != batch or candidates.shape[2] != dim:
        raise ValueError(f"candidates: expected ({batch}, D={dim}) or ({batch}, K, "
                         f"{dim}), got {tuple(candidates.shape)}")
    return int(batch)


def check_gate_embeddings(num_modalities: int, dim: int, embeddings: Sequence[Tensor]) -> int:
    """Every modality's (B, dim) embeddings, in modality order. Returns B."""
    if len(embeddings) != num_modalities:
        raise ValueError(f"embeddings: the gate has {num_modalities} modalities, "
                         f"got {len(embeddings)} tensors")
    check_embeddings("embeddings", embeddings)
    batch, width = embeddings[0].shape
    if width != dim:
        raise ValueError(f"embeddings: embedding width must be dim={dim}, got {width}")
    return int(batch)


def check_masks(name: str, masks: Sequence[Tensor] | None, count: int,
                batch: int) -> Tensor | None:
    """`count` bool presence masks of shape (B,) -> stacked (count, B), or None."""
    if masks is None:
        return None
    if len(masks) != count:
        raise ValueError(f"{name}: expected {count} tensors, got {len(masks)}")
    for i, m in enumerate(masks):
        if m.shape != (batch,) or m.dtype != torch.bool:
            raise ValueError(f"{name}[{i}]: expected a bool tensor of shape "
                             f"({batch},), got {m.dtype} {tuple(m.shape)}")
    return torch.stack(list(masks))  # (count, B)


def compute_dtype(tensors: Sequence[Tensor]) -> torch.dtype:
    """The gate's compute dtype: float64 stays float64; everything else is float32."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32
