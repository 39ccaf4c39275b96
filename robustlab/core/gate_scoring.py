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
`FastTerms`). Nothing (B, C, D)-sized is formed: the D-sized work is in the matmuls.
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
    chunks. Term s takes n_m for the context modalities m whose bit is set in s. ‖u_m‖ per
    pair comes from three per-row scalars: u_m = (1 − β) e_m + β n_m splits along ê_m and
    across it into (‖e_m‖ + β(c − ‖e_m‖)) ê_m + β (n_m − c ê_m), c = ⟨ê_m, n_m⟩, so
    ‖u_m‖² = lerp(‖e_m‖, c, β)² + β² ‖n_m − c ê_m‖²: two orthogonal parts, no cancellation."""

    products: Tensor       # (T, S, B, D): ⊙_m (n_m if s >> m & 1 else e_m), the subsets s asked
    neutral: Tensor | None  # (T, D): ⊙_m n_m, the all-neutral term (None: neutral="none")
    norm_e: Tensor | None  # (T, K, B, 1) ‖e_m‖        (None for neutral="none": no renormalising)
    along: Tensor | None   # (T, K, B, 1) c = ⟨ê_m, n_m⟩
    across: Tensor | None  # (T, K, B, 1) ‖n_m − c ê_m‖²


def prepare_fast(context: Tensor, neutrals: Tensor | None, eps: float,
                 subsets: list[int] | None = None) -> FastTerms:
    """`context` (T, K, B, D): each target's context embeddings; `neutrals` (T, K, D);
    `subsets`: which per-query products to form (default: all but the all-neutral one)."""
    if neutrals is None:  # only the S = ∅ term survives because n_m = 0
        unit = F.normalize(context, dim=-1, eps=eps)  # (T, K, B, D)
        return FastTerms(elementwise_product(list(unit.unbind(1)))[:, None], None, None, None,
                         None)
    k = context.shape[1]
    n = neutrals[:, :, None, :]  # (T, K, 1, D)
    products = [elementwise_product([n[:, m] if s >> m & 1 else context[:, m] for m in range(k)])
                for s in (range(2**k - 1) if subsets is None else subsets)]  # (T, B, D) each
    unit = F.normalize(context, dim=-1, eps=eps)  # ê (a zero e_m gives c = 0: u_m = β n_m)
    along = (unit * n).sum(-1, keepdim=True)  # (T, K, B, 1)
    return FastTerms(
        products=torch.stack(products, dim=1) if products else context[:, :0],  # (T, S, B, D)
        neutral=elementwise_product(list(neutrals.unbind(1))),  # (T, D)
        norm_e=torch.linalg.vector_norm(context, dim=-1, keepdim=True),  # (T, K, B, 1)
        along=along,
        across=((n - along * unit) ** 2).sum(-1, keepdim=True),
    )


def fast_scores(terms: FastTerms, candidates: Tensor, beta: Tensor, eps: float) -> Tensor:
    """Unscaled gated MIP of shared candidates (T, C, D); `beta` (T, K, B, C) -> (T, B, C)."""
    t, s, b, d = terms.products.shape
    cand_t = candidates.transpose(1, 2)  # (T, D, C)
    dots = (terms.products.reshape(t, s * b, d) @ cand_t).view(t, s, b, -1)  # (T, S, B, C)
    neutral = [] if terms.neutral is None else [terms.neutral[:, None, :] @ cand_t]  # (T,1,C)
    return _combine(terms, [*dots.unbind(1), *neutral], beta, eps)


def fast_pair_scores(terms: FastTerms, candidates: Tensor, beta: Tensor, eps: float) -> Tensor:
    """Unscaled gated MIP of per-query candidates (T, B, J, D) (e.g. sampled negatives);
    `beta` (T, K, B, J) -> (T, B, J). The per-pair dot products are batched matmuls over
    the queries: (S, D) @ (D, J) for each (target, query)."""
    dots = torch.einsum("tsbd,tbjd->tsbj", terms.products, candidates)  # (T, S, B, J)
    neutral = [] if terms.neutral is None else [torch.einsum(
        "td,tbjd->tbj", terms.neutral, candidates)]  # (T, B, J)
    return _combine(terms, [*dots.unbind(1), *neutral], beta, eps)


def batch_scores(emb: Tensor, context: Tensor, ids: list[list[int]], neutrals: Tensor,
                 beta: Tensor, eps: float) -> Tensor:
    """Unscaled gated MIP of every target against the batch's own rows: `emb` (M, B, D) in
    modality order, `context` (M, K, B, D) = emb of `ids[t]` (target t's context
    modalities), `neutrals` (M, D) the unit n_m, `beta` (M, K, B, B) -> (M, B, B).

    The candidates of target t are the rows of e_t, so a term with a single real context
    modality p, ⟨e_t[c], e_p[b] ⊙ Π_{m ∉ {p, t}} n_m⟩, is the transpose of the same term of
    target p: one (B, B) matmul per pair of modalities serves both targets."""
    m_count, k = emb.shape[0], context.shape[1]
    full = (1 << k) - 1  # the all-neutral subset
    by_target = torch.stack([neutrals[i] for i in ids])  # (M, K, D)
    multi_real = [s for s in range(full) if (full ^ s).bit_count() >= 2]
    terms = prepare_fast(context, by_target, eps, subsets=multi_real)
    cand_t = emb.transpose(1, 2)  # (M, D, B)
    multi = iter((terms.products.flatten(1, 2) @ cand_t).unflatten(1, (-1, emb.shape[1]))
                 .unbind(1))  # (M, B, B) per subset with two or more real modalities
    pairs = [(p, q) for p in range(m_count) for q in range(p + 1, m_count)]
    left = torch.stack([elementwise_product([emb[p], *(neutrals[m] for m in range(m_count)
                                                       if m not in (p, q))])
                        for p, q in pairs])  # (P, B, D): e_p ⊙ the other neutrals
    shared = left @ cand_t[[q for _, q in pairs]]  # (P, B, B): one matmul per pair
    values: list[Tensor] = []
    for s in range(full):
        real = full ^ s
        if real.bit_count() >= 2:
            values.append(next(multi))
            continue
        slot = real.bit_length() - 1  # the one real context modality's slot
        # shared[(p, q)][b, c] = ⟨e_p[b] ⊙ N, e_q[c]⟩: target q's term as is, target p's
        # transposed
        values.append(torch.stack([
            shared[pairs.index((p, t))] if p < t else shared[pairs.index((t, p))].T
            for t, p in ((t, ids[t][slot]) for t in range(m_count))]))  # (M, B, B)
    assert terms.neutral is not None
    values.append(terms.neutral[:, None, :] @ cand_t)  # (M, 1, B): the all-neutral term
    return _combine(terms, values, beta, eps)


def _combine(terms: FastTerms, values: list[Tensor], beta: Tensor, eps: float) -> Tensor:
    """Mix the 2^K term scores `values[s]` (T, B | 1, C) per pair and divide by
    Π_m ‖u_m‖ -> (T, B, C)."""
    if terms.neutral is None:  # attenuate only: Π_m (1 − β_m) ⟨c, ⊙ ê_m⟩
        return (1 - beta).prod(dim=1) * values[0]
    assert terms.norm_e is not None and terms.along is not None and terms.across is not None
    betas = beta.unbind(1)  # K × (T, B, C): one split, not a slice per use
    for m in reversed(range(len(betas))):  # fold the highest bit: keep·v[s] + β·v[s | bit]
        bit = 1 << m
        values = [torch.lerp(values[s], values[s | bit], betas[m]) for s in range(bit)]
    part = torch.lerp(terms.norm_e, terms.along, beta)  # (T, K, B, C): u_m along ê_m
    sq = torch.addcmul(part * part, beta * beta, terms.across)  # ‖u_m‖²
    # clamp before the root: max(‖u_m‖, eps) as normalize(eps), and a finite gradient at 0
    return values[0] * elementwise_product(sq.clamp_min(eps * eps).unbind(1)).rsqrt()
