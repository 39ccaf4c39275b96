"""The gated product `⟨c, ⊙_{m≠t} g_m⟩` in two forms: direct and fast (DESIGN §4).

Both take the per-pair gate strengths `β_m = α (1 − w_{t,m})`, shape (B, C, K) for K = M − 1
context modalities, and return the unscaled (B, C) gated MIP (the caller multiplies by
D^((M−1)/2)). With a neutral direction n_m:
    u_m = e_m + β_m (n_m − e_m) = (1 − β_m) e_m + β_m n_m,      g_m = u_m / max(‖u_m‖, eps).
With `neutral="none"` there is no direction to move toward; following the reference we only
attenuate, without renormalising: g_m = (1 − β_m) ê_m with ê_m = e_m / max(‖e_m‖, eps). (Our
choice: we normalise e_m first so that α = 0 gives the same plain-Symile score as every other
variant; DESIGN's formula with n_m = 0 would renormalise the gate away entirely.)

Direct form: materialise every g_m as (B, C, D). Fast form: expand ⊙_m u_m over the subsets S
of context modalities that take their neutral, 2^K terms (four for M = 3), each a (B, C)
matmul of a per-query product with the candidates, and get every ‖u_m‖ from per-row scalars:
‖u_m‖² = (1 − β)² ‖e_m‖² + 2β(1 − β) ⟨e_m, n_m⟩ + β² ‖n_m‖².
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from robustlab.core.mip import elementwise_product


def gated_embeddings(context: list[Tensor], beta: Tensor, neutrals: list[Tensor] | None,
                     eps: float) -> list[Tensor]:
    """Direct form of every g_m -> list of (B, C, D); `context` (B, D), `beta` (B, C, K)."""
    out = []
    for m, emb in enumerate(context):
        b = beta[..., m, None]  # (B, C, 1)
        if neutrals is None:
            g = (1 - b) * F.normalize(emb, dim=-1, eps=eps)[:, None, :]  # (B, C, D)
        else:
            e = emb[:, None, :]  # (B, 1, D)
            g = F.normalize(e + b * (neutrals[m] - e), dim=-1, eps=eps)  # (B, C, D)
        out.append(g)
    return out


def direct_scores(context: list[Tensor], cand_pairs: Tensor, beta: Tensor,
                  neutrals: list[Tensor] | None, eps: float) -> Tensor:
    """Unscaled gated MIP of pair (b, c), candidates given per pair as (B, C, D) -> (B, C)."""
    product = elementwise_product(gated_embeddings(context, beta, neutrals, eps))  # (B, C, D)
    return (product * cand_pairs).sum(dim=-1)


@dataclass(frozen=True)
class FastTerms:
    """Per-query quantities of the fast form, computed once for all candidate chunks."""

    products: list[Tensor]  # per term S: ⊙ over m of (n_m if m ∈ S else e_m), (B, D); (1, D)
                            # when every modality takes its neutral (no per-query factor)
    subsets: list[int]      # bit m of subsets[s] says whether modality m takes n_m in term s
    sq_e: Tensor | None     # (K, B) ‖e_m‖²        (None for neutral="none": no renormalising)
    dot_en: Tensor | None   # (K, B) ⟨e_m, n_m⟩
    sq_n: Tensor | None     # (K,)   ‖n_m‖²


def prepare_fast(context: list[Tensor], neutrals: list[Tensor] | None, eps: float) -> FastTerms:
    if neutrals is None:  # only the S = ∅ term survives because n_m = 0
        unit = [F.normalize(e, dim=-1, eps=eps) for e in context]
        return FastTerms([elementwise_product(unit)], [0], None, None, None)
    k = len(context)
    subsets = list(range(2**k))
    products = [elementwise_product([neutrals[m][None] if s >> m & 1 else context[m]
                                     for m in range(k)]) for s in subsets]
    return FastTerms(
        products=products,
        subsets=subsets,
        sq_e=torch.stack([(e * e).sum(-1) for e in context]),  # (K, B)
        dot_en=torch.stack([(e * n).sum(-1) for e, n in zip(context, neutrals, strict=True)]),
        sq_n=torch.stack([(n * n).sum() for n in neutrals]),  # (K,)
    )


def fast_scores(terms: FastTerms, candidates: Tensor, beta: Tensor, eps: float) -> Tensor:
    """Unscaled gated MIP for a chunk of shared candidates (C, D); `beta` (B, C, K) -> (B, C)."""
    keep = 1 - beta  # (B, C, K)
    total = torch.zeros(beta.shape[:-1], dtype=beta.dtype, device=beta.device)  # (B, C)
    for product, s in zip(terms.products, terms.subsets, strict=True):
        coef = torch.ones_like(total)
        for m in range(beta.shape[-1]):
            coef = coef * (beta[..., m] if s >> m & 1 else keep[..., m])
        total = total + coef * (product @ candidates.T)  # (B or 1, C): the D-sized work
    if terms.sq_e is None:
        return total
    assert terms.dot_en is not None and terms.sq_n is not None
    norm = torch.ones_like(total)
    for m in range(beta.shape[-1]):
        b, kb = beta[..., m], keep[..., m]
        sq = (kb * kb * terms.sq_e[m, :, None] + 2 * b * kb * terms.dot_en[m, :, None]
              + b * b * terms.sq_n[m])  # (B, C) = ‖u_m‖²
        # clamp before sqrt: matches normalize(eps) and keeps the gradient finite at 0
        norm = norm * sq.clamp_min(eps * eps).sqrt()
    return total / norm
