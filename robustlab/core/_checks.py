"""Argument validation shared by the core math. Errors name the argument and what is valid."""

from __future__ import annotations

from collections.abc import Sequence

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
