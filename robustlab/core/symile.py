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
  N³ logits). They are produced in chunks and reduced by a running log-sum-exp; each chunk
  is recomputed in backward (activation checkpointing), so peak memory is bounded by the
  chunk size in the forward *and* the backward pass, never by N³.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from robustlab.core._checks import check_embeddings, check_logit_scale
from robustlab.core.mip import elementwise_product, mip

Negatives = Literal["n", "n_squared"]


def symile_loss(embeddings: Sequence[Tensor], logit_scale: Tensor | float,
                negatives: Negatives = "n", *, generator: torch.Generator | None = None,
                chunk_size: int = 64) -> Tensor:
    """Symile loss of M >= 2 aligned batches (N, D) -> scalar: the mean over anchors of
    `symile_anchor_losses` (same arguments)."""
    return torch.stack(symile_anchor_losses(embeddings, logit_scale, negatives,
                                            generator=generator, chunk_size=chunk_size)).mean()


def symile_anchor_losses(embeddings: Sequence[Tensor], logit_scale: Tensor | float,
                         negatives: Negatives = "n", *,
                         generator: torch.Generator | None = None,
                         chunk_size: int = 64) -> list[Tensor]:
    """The M per-anchor cross-entropies (scalars, in modality order) of M >= 2 aligned
    batches (N, D).

    `generator` draws the "n" permutations (reproducible for a seeded generator). With
    `generator=None` the "n" scheme uses a fixed, documented derangement instead of random
    permutations: non-anchor modality k is rolled by k + 1 rows (no global RNG is ever used).
    `chunk_size` ("n_squared" only): how many rows of the first non-anchor modality (for
    M > 3: of the tuples of all but the last non-anchor modality) one chunk pairs with every
    row of the last; a chunk holds a (N, chunk_size · N) logit block.
    """
    check_embeddings("embeddings", embeddings, min_count=2)
    check_logit_scale(logit_scale)
    if negatives not in ("n", "n_squared"):
        raise ValueError(f"negatives: must be 'n' or 'n_squared', got {negatives!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size: must be >= 1, got {chunk_size}")
    scale = torch.as_tensor(logit_scale, dtype=embeddings[0].dtype, device=embeddings[0].device)
    terms = []
    for a, anchor in enumerate(embeddings):
        others = [emb for m, emb in enumerate(embeddings) if m != a]
        if negatives == "n":
            terms.append(_anchor_loss_n(anchor, others, scale, generator))
        else:
            terms.append(_anchor_loss_n_squared(anchor, others, scale, chunk_size))
    return terms


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


def _anchor_loss_n_squared(anchor: Tensor, others: list[Tensor], scale: Tensor,
                           chunk_size: int) -> Tensor:
    """Cross-entropy against all N^(M-1) tuples via a chunked log-sum-exp."""
    n = anchor.shape[0]
    prefix, last = others[:-1], others[-1]
    num_prefix = n ** len(prefix)  # tuples of the non-last non-anchor rows (1 when M = 2)
    needs_grad = torch.is_grad_enabled() and any(
        t.requires_grad for t in (anchor, scale, *others))
    chunk_lse = []
    for start in range(0, num_prefix, chunk_size):
        rows = torch.arange(start, min(start + chunk_size, num_prefix), device=anchor.device)
        if needs_grad:  # recompute the block in backward instead of keeping N³ logits alive
            lse = _RecomputedBlockLSE.apply(anchor, scale, last, rows, *prefix)
        else:
            lse = _block_lse(anchor, scale, last, rows, *prefix)
        chunk_lse.append(lse)
    total = torch.logsumexp(torch.stack(chunk_lse, dim=1), dim=1)  # (N,)
    positive = scale * mip(anchor, *others)  # (N,)
    return (total - positive).mean()


class _RecomputedBlockLSE(torch.autograd.Function):
    """`_block_lse` that keeps only its inputs and recomputes the block in backward.

    A hand-rolled checkpoint: torch.utils.checkpoint costs tens of milliseconds a call here
    (its dynamo guard), which dominates small batches. First-order gradients only.
    """

    @staticmethod
    def forward(ctx: Any, anchor: Tensor, scale: Tensor, last: Tensor, rows: Tensor,
                *prefix: Tensor) -> Tensor:
        ctx.save_for_backward(anchor, scale, last, rows, *prefix)
        return _block_lse(anchor, scale, last, rows, *prefix)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        anchor, scale, last, rows, *prefix = ctx.saved_tensors
        inputs = [anchor, scale, last, *prefix]
        needs = [ctx.needs_input_grad[i] for i in (0, 1, 2)] + list(ctx.needs_input_grad[4:])
        leaves = [t.detach().requires_grad_(n) for t, n in zip(inputs, needs, strict=True)]
        with torch.enable_grad():
            out = _block_lse(leaves[0], leaves[1], leaves[2], rows, *leaves[3:])
        wanted = [t for t, n in zip(leaves, needs, strict=True) if n]
        grads = iter(torch.autograd.grad(out, wanted, grad_out))
        full = [next(grads) if n else None for n in needs]
        return (full[0], full[1], full[2], None, *full[3:])


def _block_lse(anchor: Tensor, scale: Tensor, last: Tensor, rows: Tensor,
               *prefix: Tensor) -> Tensor:
    """log-sum-exp over the logits of the tuples whose prefix index lies in `rows` -> (N,)."""
    n, d = last.shape
    if prefix:
        picked = []
        for j, emb in enumerate(prefix):  # decode the flat prefix index into base-N digits
            digit = (rows // n ** (len(prefix) - 1 - j)) % n
            picked.append(emb[digit])
        head = elementwise_product(picked)  # (c, D)
        block = (head[:, None, :] * last[None, :, :]).reshape(-1, d)  # (c·N, D)
    else:
        block = last  # M = 2: the only non-anchor modality, (N, D)
    logits = scale * (anchor @ block.T)  # (N, c·N)
    return torch.logsumexp(logits, dim=1)
