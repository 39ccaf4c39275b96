"""The Gated Symile training loss (DESIGN §4).

For each target modality t: score the positive and the negatives of every query with the
gate (per candidate), cross-entropy with the positive, then the mean over targets.
`logit_scale` is the already-exponentiated scale. Two negative schemes:
- `num_negatives=None`: the whole batch is the candidate set; logits (B, B) with the
  positives on the diagonal;
- `num_negatives=K`: min(K, B − 1) negatives per query drawn uniformly from the other rows
  (with replacement across draws, never the positive itself), scored per pair. This is the
  reference's pair sampling (`losses/symile.py`, `negative_sampling: pair`): it caps K at
  the B − 1 other rows (`K = max(1, min(K, N - 1))`) and draws with replacement by shifting
  a draw from [0, B − 2] past the positive's index.
Both score every target at once with the gate's fast form (`ModalityGate.score_all`):
matmuls and (M, K, B, C) elementwise work, nothing (B, C, D)-sized, no loop over targets.
The loss is the cross-entropy alone, as in the reference's current code (an earlier version
added a 0.1-weighted distillation term between raw and gated embeddings; it was removed).
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
    negatives (required when `num_negatives` is set: no global RNG). A `num_negatives` of
    B or more draws B − 1 per query (the reference's cap), so the logits are (B, B).
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
    columns = None
    if num_negatives is not None:  # drawn per target, in target order
        assert generator is not None
        columns = torch.stack([_sampled_columns(batch, num_negatives, generator,
                                                embeddings[0].device)
                               for _ in embeddings])  # (M, B, K+1), the positive in column 0
    scores = gate.score_all(embeddings, masks=masks, columns=columns)  # (M, B, B or K+1)
    logits = logit_scale * scores
    labels = (torch.zeros(batch, dtype=torch.long, device=logits.device) if columns is not None
              else torch.arange(batch, device=logits.device))
    ce = F.cross_entropy(logits.flatten(0, 1), labels.repeat(len(embeddings)),
                         reduction="none").view(len(embeddings), batch)  # (M, B)
    return list(ce.mean(dim=1).unbind())


def _sampled_columns(batch: int, k: int, generator: torch.Generator,
                     device: torch.device) -> Tensor:
    """(B, K'+1) candidate rows per query, K' = min(K, B − 1): the positive, then K'
    negatives drawn uniformly from the other rows (with replacement across draws, never the
    positive itself)."""
    k = min(k, batch - 1)  # the reference's cap: no more negatives than other rows
    neg = torch.randint(0, batch - 1, (batch, k), generator=generator,
                        device=generator.device).to(device)  # (B, K) in [0, B-2]
    pos = torch.arange(batch, device=device)
    neg = neg + (neg >= pos[:, None]).long()  # skip the positive: now in [0, B-1] \ {b}
    return torch.cat([pos[:, None], neg], dim=1)  # (B, K+1), the positive in column 0
