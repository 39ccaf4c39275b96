"""The Symile loss (Saporta et al., 2024) with its two negative schemes (DESIGN §4).

Every modality takes a turn as anchor; each turn is a cross-entropy over logits
`logit_scale · MIP(anchor, ·, …)` with the positive on the true tuple; the loss is the mean
over anchors. `logit_scale` is the already-exponentiated scale `exp(s)`: the method owns
the learnable log-scale and clamps it at log 100 (the reference does not clamp; we do, like
CLIP). L2-normalising the embeddings (the reference does it for synthetic data only) is the
method's choice, not this function's.

Negative schemes, for N examples and M modalities:
- "n": every non-anchor modality is shuffled by its own permutation; logits (N, N) with the
  diagonal replaced by the true tuple's MIP.
- "n_squared": all N^(M-1) tuples of non-anchor rows are negatives (for M = 3, N² pairs and
  N³ logits), exactly as the reference package's `n_squared`. Every anchor's logits are
  slices of one N^M tensor, which `symile_n2` reduces blockwise in a single pass with an
  online log-sum-exp and differentiates analytically: matmul speed, peak memory set by a
  block budget, never by N^M. It computes in float32 with autocast disabled (float64 stays
  float64): a log-sum-exp over N² bf16 logits would lose the loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from robustlab.core._checks import check_embeddings, check_logit_scale
from robustlab.core.mip import elementwise_product, mip
from robustlab.core.symile_n2 import DEFAULT_MEMORY_BUDGET, log_partitions, plan_blocks

Negatives = Literal["n", "n_squared"]


def symile_loss(embeddings: Sequence[Tensor], logit_scale: Tensor | float,
                negatives: Negatives = "n", *, generator: torch.Generator | None = None,
                chunk_size: int | None = None,
                memory_budget: int = DEFAULT_MEMORY_BUDGET) -> Tensor:
    """Symile loss of M >= 2 aligned batches (N, D) -> scalar: the mean over anchors of
    `symile_anchor_losses` (same arguments)."""
    return torch.stack(symile_anchor_losses(embeddings, logit_scale, negatives,
                                            generator=generator, chunk_size=chunk_size,
                                            memory_budget=memory_budget)).mean()


def symile_anchor_losses(embeddings: Sequence[Tensor], logit_scale: Tensor | float,
                         negatives: Negatives = "n", *,
                         generator: torch.Generator | None = None,
                         chunk_size: int | None = None,
                         memory_budget: int = DEFAULT_MEMORY_BUDGET) -> list[Tensor]:
    """The M per-anchor cross-entropies (scalars, in modality order) of M >= 2 aligned
    batches (N, D).

    `generator` draws the "n" permutations (reproducible for a seeded generator). With
    `generator=None` the "n" scheme uses a fixed, documented derangement instead of random
    permutations: non-anchor modality k is rolled by k + 1 rows (no global RNG is ever used).
    "n_squared" only (memory and speed, never results): `chunk_size` rows of the middle
    modalities (for M > 3 their tuples) per block, each block a (chunk_size · N, N) logit
    matrix; `None` (default) sizes blocks to `memory_budget` bytes of working set
    (`symile_n2.DEFAULT_MEMORY_BUDGET`, 8 MiB).
    """
    check_embeddings("embeddings", embeddings, min_count=2)
    check_logit_scale(logit_scale)
    if negatives not in ("n", "n_squared"):
        raise ValueError(f"negatives: must be 'n' or 'n_squared', got {negatives!r}")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size: must be >= 1, got {chunk_size}")
    if negatives == "n_squared":
        return _anchor_losses_n_squared(embeddings, logit_scale, chunk_size, memory_budget)
    scale = torch.as_tensor(logit_scale, dtype=embeddings[0].dtype, device=embeddings[0].device)
    terms = []
    for a, anchor in enumerate(embeddings):
        others = [emb for m, emb in enumerate(embeddings) if m != a]
        terms.append(_anchor_loss_n(anchor, others, scale, generator))
    return terms


def _anchor_losses_n_squared(embeddings: Sequence[Tensor], logit_scale: Tensor | float,
                             chunk_size: int | None, memory_budget: int) -> list[Tensor]:
    """Cross-entropy of each anchor against all N^(M-1) tuples of the other modalities."""
    dtype = torch.float32
    for emb in embeddings:  # bf16 / fp16 inputs are computed in float32, float64 in float64
        dtype = torch.promote_types(dtype, emb.dtype)
    n, d = embeddings[0].shape
    plan = plan_blocks(n, d, len(embeddings), dtype.itemsize, chunk_size, memory_budget)
    with torch.autocast(device_type=embeddings[0].device.type, enabled=False):
        embs = [emb.to(dtype) for emb in embeddings]
        scale = torch.as_tensor(logit_scale, dtype=dtype, device=embs[0].device)
        lses = log_partitions(embs, scale, plan)  # M × (N,)
        positive = scale * mip(*embs)  # (N,) the true tuple (i, …, i), the same for every anchor
        return [(lse - positive).mean() for lse in lses]


def _permutation(n: int, k: int, generator: torch.Generator | None,
                 device: torch.device) -> Tensor:
    if generator is None:
        return (torch.arange(n, device=device) + k + 1) % n
    return torch.randperm(n, generator=generator, device=generator.device).to(device)


def _anchor_loss_n(anchor: Tensor, others: list[Tensor], scale: Tensor,
                   generator: torch.Generator | None) -> Tensor:
    n = anchor.shape[0]
    shuffled = [emb[_permutation(n, k, generator, anchor.device)] for k, emb in enumerate(others)]
    logits = scale * (anchor @ elementwise_product(shuffled).T)  # (N, N)
    positive = scale * mip(anchor, *others)  # (N,)
    eye = torch.eye(n, dtype=torch.bool, device=anchor.device)
    logits = torch.where(eye, positive[:, None], logits)  # (i, i) holds the true tuple
    labels = torch.arange(n, device=anchor.device)
    return torch.nn.functional.cross_entropy(logits, labels)
