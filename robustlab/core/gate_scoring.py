"""The gated product `⟨c, ⊙_{m≠t} g_m⟩` in two forms: direct and fast (DESIGN §4).

Both take the per-pair gate strengths `β_m = α (1 − w_{t,m})` laid out context-major,
(K, B, C) for K = M − 1 context modalities (the fast form stacks T targets in front:
(T, K, B, C)), and return the unscaled gated MIP (the caller multiplies by D^((M−1)/2)).
With a neutral direction n_m:
    u_m = e_m + β_m (n_m − e_m) = (1 − β_m) e_m + β_m n_m,      g_m = u_m / max(‖u_m‖, eps).
With `neutral="none"` there is no direction to move toward; following the reference we only
attenuate, without renormalising: g_m = (1 − β_m) ê_m with ê_m = e_m / max(‖e_m‖, eps). (Our
choice: we normalise e_m first so that α = 0 gives the same plain-Symile score as every other
variant; DESIGN's formula with n_m = 0 would renormalise the gate away entirely.)

Direct form: materialise every g_m as (B, C, D) — the reference the tests hold the fast form
to. Fast form: ⊙_m u_m expands over the subsets S of context modalities that take their
neutral, 2^K terms (four for M = 3), each a matmul of a per-query product with the
candidates (the all-neutral term has no per-query factor: one matrix-vector product), mixed
per pair by nested `lerp`s (keep·a + β·b), with every ‖u_m‖ from per-row scalars (see
`norm_stats`). Nothing (B, C, D)-sized is formed: the D-sized work is in the matmuls.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from robustlab.core.mip import elementwise_product


def gated_embeddings(context: list[Tensor], beta: Tensor, neutrals: list[Tensor] | None,
                     eps: float) -> list[Tensor]:
    """Direct form of every g_m -> list of (B, C, D); `context` (B, D), `beta` (K, B, C)."""
    out = []
    for m, emb in enumerate(context):
        b = beta[m, ..., None]  # (B, C, 1)
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
    """Per-query quantities of the fast form for T targets, computed once for all candidate
    chunks. Term s takes n_m for the context modalities m whose bit is set in s."""

    products: Tensor       # (T, S, B, D): ⊙_m (n_m if s >> m & 1 else e_m), the subsets s asked
    neutral: Tensor | None  # (T, D): ⊙_m n_m, the all-neutral term (None: neutral="none")
    stats: tuple[Tensor, Tensor, Tensor] | None  # `norm_stats` of each context, (T, K, B, 1)


def norm_stats(emb: Tensor, neutral: Tensor, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """Per-row scalars that give ‖u‖ for every β: u = (1 − β) e + β n splits along ê and
    across it, u = (a + β(c − a)) ê + β (n − c ê) with a = ‖e‖ and c = ⟨ê, n⟩, so
    ‖u‖² = lerp(a, c, β)² + β² s², s² = ‖n‖² − c²: two orthogonal parts, no cancellation
    between them. emb (..., B, D), neutral (..., 1, D) -> a, c, s², each (..., B, 1).
    (a is floored at eps, as normalize divides: it moves ‖u‖² by at most (1 − β)² eps².)"""
    a = (emb * emb).sum(-1, keepdim=True).clamp_min(eps * eps).sqrt()
    c = (emb * neutral).sum(-1, keepdim=True) / a
    s2 = ((neutral * neutral).sum(-1, keepdim=True) - c * c).clamp_min(0.0)
    return a, c, s2


def prepare_fast(context: Tensor, neutrals: Tensor | None, eps: float) -> FastTerms:
    """`context` (T, K, B, D): each target's context embeddings; `neutrals` (T, K, D)."""
    if neutrals is None:  # only the S = ∅ term survives because n_m = 0
        unit = F.normalize(context, dim=-1, eps=eps)  # (T, K, B, D)
        return FastTerms(elementwise_product(list(unit.unbind(1)))[:, None], None, None)
    k = context.shape[1]
    n = neutrals[:, :, None, :]  # (T, K, 1, D)
    products = [elementwise_product([n[:, m] if s >> m & 1 else context[:, m] for m in range(k)])
                for s in range(2**k - 1)]  # (T, B, D) each
    return FastTerms(torch.stack(products, dim=1), elementwise_product(list(neutrals.unbind(1))),
                     norm_stats(context, n, eps))


def fast_scores(terms: FastTerms, candidates: Tensor, beta: Tensor, eps: float) -> Tensor:
    """Unscaled gated MIP of shared candidates (T, C, D); `beta` (T, K, B, C) -> (T, B, C)."""
    t, s, b, d = terms.products.shape
    cand_t = candidates.transpose(1, 2)  # (T, D, C)
    dots = (terms.products.reshape(t, s * b, d) @ cand_t).view(t, s, b, -1)  # (T, S, B, C)
    neutral = [] if terms.neutral is None else [terms.neutral[:, None, :] @ cand_t]  # (T,1,C)
    return _combine([*dots.unbind(1), *neutral], beta, terms.stats, eps)


def fast_pair_scores(terms: FastTerms, candidates: Tensor, beta: Tensor, eps: float) -> Tensor:
    """Unscaled gated MIP of per-query candidates (T, B, J, D) (e.g. sampled negatives);
    `beta` (T, K, B, J) -> (T, B, J). The per-pair dot products are batched matmuls over
    the queries: (S, D) @ (D, J) for each (target, query)."""
    dots = torch.einsum("tsbd,tbjd->tsbj", terms.products, candidates)  # (T, S, B, J)
    neutral = [] if terms.neutral is None else [torch.einsum(
        "td,tbjd->tbj", terms.neutral, candidates)]  # (T, B, J)
    return _combine([*dots.unbind(1), *neutral], beta, terms.stats, eps)


def by_target(x: Tensor, ids: Tensor) -> Tensor:
    """Per-modality rows (M, ...) -> each target's context rows (M, K, ...) for context ids
    (M, K) (index_select: its backward is a plain index_add)."""
    return x.index_select(0, ids.flatten()).view(*ids.shape, *x.shape[1:])


def _combine(values: list[Tensor], beta: Tensor, stats: tuple[Tensor, Tensor, Tensor] | None,
             eps: float) -> Tensor:
    """Mix the 2^K term scores `values[s]` (T, B | 1, C) per pair and divide by
    Π_m ‖u_m‖ (from `norm_stats`) -> (T, B, C)."""
    if stats is None:  # neutral="none", attenuate only: Π_m (1 − β_m) ⟨c, ⊙ ê_m⟩
        return (1 - beta).prod(dim=1) * values[0]
    betas = beta.unbind(1)  # K × (T, B, C): one split, not a slice per use
    for m in reversed(range(len(betas))):  # fold the highest bit: keep·v[s] + β·v[s | bit]
        bit = 1 << m
        values = [torch.lerp(values[s], values[s | bit], betas[m]) for s in range(bit)]
    a, c, s2 = stats
    along = torch.lerp(a, c, beta)  # (T, K, B, C): u_m's component along ê_m
    sq = torch.addcmul(along * along, beta * beta, s2)  # ‖u_m‖²
    # clamp before the root: max(‖u_m‖, eps) as normalize(eps), and a finite gradient at 0
    return values[0] * elementwise_product(sq.clamp_min(eps * eps).unbind(1)).rsqrt()
