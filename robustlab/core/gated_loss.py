"""The Gated Symile training loss (DESIGN §4).

For each target modality t: score the positive and the negatives of every query with the
gate (per candidate), cross-entropy with the positive, then the mean over targets.
`logit_scale` is the already-exponentiated scale. Two negative schemes:
- `num_negatives=None`: the whole batch is the candidate set, scored with the fast form;
  logits (B, B) with the positives on the diagonal;
- `num_negatives=K`: K negatives per query drawn uniformly from the other rows (with
  replacement across draws, never the positive itself, as in the reference), scored per pair.
The reference adds a 0.1-weighted distillation term between raw and gated embeddings; DESIGN
does not, so neither do we.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from robustlab.core._checks import check_embeddings, check_logit_scale
from robustlab.core.gate import ModalityGate


def gated_symile_loss(gate: ModalityGate, embeddings: Sequence[Tensor],
                      logit_scale: Tensor | float, *, num_negatives: int | None = None,
                      generator: torch.Generator | None = None,
                      masks: Sequence[Tensor] | None = None) -> Tensor:
    """Mean over targets of the gated cross-entropy -> scalar (`gated_symile_target_losses`,
    same arguments)."""
    return torch.stack(gated_symile_target_losses(
        gate, embeddings, logit_scale, num_negatives=num_negatives, generator=generator,
        masks=masks)).mean()


def gated_symile_target_losses(gate: ModalityGate, embeddings: Sequence[Tensor],
                               logit_scale: Tensor | float, *,
                               num_negatives: int | None = None,
                               generator: torch.Generator | None = None,
                               masks: Sequence[Tensor] | None = None) -> list[Tensor]:
    """The gated cross-entropy of each target modality (M scalars, in modality order).

    `embeddings`: M aligned (B, D) tensors in modality order; `masks`: M (B,) bool presence
    masks (used by a `hard_missing` gate, ignored otherwise); `generator` draws the sampled
    negatives (required when `num_negatives` is set: no global RNG).
    """
    check_embeddings("embeddings", embeddings, min_count=2)
    check_logit_scale(logit_scale)
    if len(embeddings) != gate.num_modalities:
        raise ValueError(f"embeddings: the gate has {gate.num_modalities} modalities, "
                         f"got {len(embeddings)} tensors")
    if masks is not None and len(masks) != len(embeddings):
        raise ValueError(f"masks: expected {len(embeddings)} (B,) tensors, got {len(masks)}")
    batch = embeddings[0].shape[0]
    if num_negatives is not None:
        if not isinstance(num_negatives, int) or num_negatives < 1:
            raise ValueError(f"num_negatives: must be an int >= 1 or None, got {num_negatives!r}")
        if batch < 2:
            raise ValueError(f"embeddings: sampled negatives need a batch of >= 2, got {batch}")
        if generator is None:
            raise ValueError("generator: required when num_negatives is set (negatives are "
                             "sampled; pass a seeded torch.Generator)")
    terms = []
    for t in range(len(embeddings)):
        context = [e for m, e in enumerate(embeddings) if m != t]
        ctx_mask = None if masks is None else [k for m, k in enumerate(masks) if m != t]
        if num_negatives is None:
            terms.append(_whole_batch(gate, t, context, embeddings[t], ctx_mask, logit_scale))
        else:
            assert generator is not None
            terms.append(_sampled(gate, t, context, embeddings[t], ctx_mask, logit_scale,
                                  num_negatives, generator))
    return terms


def _whole_batch(gate: ModalityGate, target: int, context: list[Tensor], cand: Tensor,
                 ctx_mask: list[Tensor] | None, logit_scale: Tensor | float) -> Tensor:
    logits = logit_scale * gate.score(target, context, cand, context_mask=ctx_mask)  # (B, B)
    labels = torch.arange(cand.shape[0], device=cand.device)
    return F.cross_entropy(logits, labels)


def _sampled(gate: ModalityGate, target: int, context: list[Tensor], cand: Tensor,
             ctx_mask: list[Tensor] | None, logit_scale: Tensor | float, k: int,
             generator: torch.Generator) -> Tensor:
    batch = cand.shape[0]
    neg = torch.randint(0, batch - 1, (batch, k), generator=generator,
                        device=generator.device).to(cand.device)  # (B, K) in [0, B-2]
    pos = torch.arange(batch, device=cand.device)
    neg = neg + (neg >= pos[:, None]).long()  # skip the positive: now in [0, B-1] \ {b}
    idx = torch.cat([pos[:, None], neg], dim=1)  # (B, K+1), the positive in column 0
    logits = logit_scale * gate.score_tuples(target, context, cand[idx],
                                             context_mask=ctx_mask)  # (B, K+1)
    return F.cross_entropy(logits, torch.zeros(batch, dtype=torch.long, device=cand.device))
