"""The gate's whole-batch training path as two autograd Functions with analytic backward
passes (issue 24).

`ModalityGate.score_all` (what the training loss calls) scores every target of a batch
against the batch's own rows. Written as autograd ops, the chain from embeddings to scores
is about 300 small forward ops and backward nodes at the default study's batch (64), and a
training step is bound by their count, not by the matmuls. Here it is two Functions whose
backward passes are written out (the pattern of `symile_n2.py`):

- `attention_beta`: the embeddings (M, B, D) and the attention gate's parameters ->
  β = α (1 − w) (M, K, B, C) of the sigmoid gate, with or without NULL, with hard_missing
  masks (gate.py `_keys`, `_logits`, `_null_logits`, `_probs`, `_beta`);
- `gated_product`: embeddings, the unit neutral directions (M, D) and β -> the unscaled
  gated MIP (M, B, C) (gate_scoring.py: the 2^K-term matmul expansion mixed by nested
  lerps, each ‖u_m‖ from per-row scalars).

Here M modalities, K = M − 1 context slots per target (`ids[t]`: target t's context
modalities), and the candidates of target t are the batch's rows of modality t (C = B).
Both compute the formulas of those forms, up to float reassociation; the tests hold them to
the direct forms in float64, values and gradients (`test_gated_loss.py`,
`test_gate_batch.py`). Second derivatives are not supported.

The backward of the product flushes subnormal numbers of the incoming gradient to zero:
the cross-entropy's softmax sends ~1e-40 weights for far negatives, and a float32 matmul
fed subnormals runs several times slower on x86; the flushed values are below every other
term's rounding error.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

LAYER_NORM_EPS = 1e-5  # F.layer_norm's default, as gate.py's NULL head uses it


def _normalize_backward(grad: Tensor, unit: Tensor, norm: Tensor, eps: float) -> Tensor:
    """d/dx of x / max(‖x‖, eps) applied to `grad`; `unit` is that output, `norm` ‖x‖."""
    along = torch.linalg.vecdot(grad, unit)[..., None] * (norm >= eps)  # none when floored
    return torch.addcmul(grad, unit, along, value=-1.0).div_(norm.clamp_min(eps))


def _flush_subnormal(grad: Tensor) -> Tensor:
    tiny = torch.finfo(grad.dtype).tiny
    return grad.masked_fill(grad.abs() < tiny, 0.0)


class _AttentionBeta(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, emb: Tensor, query: Tensor, key: Tensor, log_temp: Tensor,
                strength: Tensor, ids: Tensor, keep: Tensor | None, eps: float,
                *null_params: Tensor) -> Tensor:
        m, b, _ = emb.shape
        k = ids.shape[1]
        tau = F.softplus(log_temp) + 0.1
        alpha = torch.sigmoid(strength)
        kraw = torch.bmm(emb, key.transpose(1, 2))  # (M, B, kd)
        kn = torch.linalg.vector_norm(kraw, dim=-1, keepdim=True)
        khat = kraw / kn.clamp_min(eps)
        qraw = torch.bmm(emb, query.transpose(1, 2))  # (M, C, kd): candidates are the rows
        qn = torch.linalg.vector_norm(qraw, dim=-1, keepdim=True)
        qhat = qraw / qn.clamp_min(eps)
        kctx = khat.index_select(0, ids.flatten()).view(m, k * b, -1)  # (M, K·B, kd)
        logits = torch.bmm(kctx, qhat.transpose(1, 2)).div_(tau)  # (M, K·B, C)
        sig = torch.sigmoid(logits).view(m, k, b, b)
        w = sig
        saved: list[Tensor] = []
        if null_params:
            mass, saved = _null_forward(emb, tau, eps, *null_params)  # (M, C): 1 − p_null
            w = w * mass[:, None, None, :]
        if keep is not None:
            w = w * keep[..., None]
        beta = alpha * (1 - w)  # (M, K, B, C)
        ctx.save_for_backward(emb, query, key, log_temp, kn, khat, qn, qhat, kctx, logits, sig,
                              w, tau, alpha, *saved, *null_params)
        ctx.info = (ids, keep, eps, len(saved))
        return beta

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, dbeta: Tensor) -> tuple[Tensor | None, ...]:
        (emb, query, key, log_temp, kn, khat, qn, qhat, kctx, logits, sig, w, tau, alpha,
         *rest) = ctx.saved_tensors
        ids, keep, eps, n_saved = ctx.info
        saved, null_params = rest[:n_saved], rest[n_saved:]
        m, b, _ = emb.shape
        k = ids.shape[1]
        dalpha = dbeta.sum() - (dbeta * w).sum()  # β = α (1 − w)
        dw = dbeta * -alpha  # (M, K, B, C)
        if keep is not None:
            dw = dw * keep[..., None]
        dnull: tuple[Tensor, ...] = ()
        dtau = tau.new_zeros(())
        demb = torch.zeros_like(emb)
        if null_params:
            mass = saved[0]
            dmass = (dw * sig).sum((1, 2))  # (M, C)
            dw = dw * mass[:, None, None, :]
            dnull, dtau = _null_backward(dmass, emb, tau, eps, demb, saved, null_params)
        dlogits = _flush_subnormal((dw * sig * (1 - sig)).view(m, k * b, b))  # σ'
        dtau = dtau - torch.linalg.vecdot(dlogits.flatten(), logits.flatten()) / tau
        draw = dlogits / tau  # logits = (k̂ · q̂) / τ
        dkctx = torch.bmm(draw, qhat)  # (M, K·B, kd)
        dqhat = torch.bmm(draw.transpose(1, 2), kctx)  # (M, C, kd)
        dkhat = torch.zeros_like(khat).index_add_(0, ids.flatten(), dkctx.view(m * k, b, -1))
        dkraw = _normalize_backward(dkhat, khat, kn, eps)
        dqraw = _normalize_backward(dqhat, qhat, qn, eps)
        demb.baddbmm_(dkraw, key).baddbmm_(dqraw, query)
        dkey = torch.bmm(dkraw.transpose(1, 2), emb)  # (M, kd, D)
        dquery = torch.bmm(dqraw.transpose(1, 2), emb)
        dlog_temp = dtau * torch.sigmoid(log_temp)  # τ = softplus(log_temp) + 0.1
        dstrength = dalpha * alpha * (1 - alpha)
        return (demb, dquery, dkey, dlog_temp, dstrength, None, None, None, *dnull)


def _null_forward(emb: Tensor, tau: Tensor, eps: float, bias: Tensor, ln_w: Tensor,
                  ln_b: Tensor, w1: Tensor, b1: Tensor, w2: Tensor,
                  b2: Tensor) -> tuple[Tensor, list[Tensor]]:
    """1 − σ(null_t(c)) for every candidate (M, C), and what its backward needs."""
    en = torch.linalg.vector_norm(emb, dim=-1, keepdim=True)
    unit = emb / en.clamp_min(eps)  # (M, C, D)
    h, mean, rstd = torch.native_layer_norm(unit, (emb.shape[-1],), ln_w, ln_b,
                                            LAYER_NORM_EPS)
    pre = F.linear(h, w1, b1)  # (M, C, kd)
    hidden = torch.relu(pre)
    head = F.linear(hidden, w2, b2).squeeze(-1)  # (M, C)
    nu = (head + bias[:, None]) / tau
    mass = torch.sigmoid(-nu)  # 1 − σ(ν)
    return mass, [mass, nu, en, unit, h, mean, rstd, hidden]


def _null_backward(dmass: Tensor, emb: Tensor, tau: Tensor, eps: float, demb: Tensor,
                   saved: list[Tensor], params: list[Tensor]
                   ) -> tuple[tuple[Tensor, ...], Tensor]:
    """Gradients of the NULL head's parameters (bias, ln_w, ln_b, w1, b1, w2, b2) and of τ
    from d(1 − p_null) (M, C); adds the embeddings' part to `demb` in place."""
    mass, nu, en, unit, h, mean, rstd, hidden = saved
    _, ln_w, ln_b, w1, _, w2, _ = params
    dnu = -dmass * mass * (1 - mass)  # d/dν σ(−ν) = −σ(−ν) σ(ν)
    dhead = dnu / tau  # (M, C)
    dtau = -(dnu * nu).sum() / tau
    flat = hidden.flatten(0, 1)  # (M·C, kd)
    dw2 = (dhead.reshape(1, -1) @ flat)  # (1, kd)
    dpre = (dhead[..., None] * w2[0]) * (hidden > 0)  # (M, C, kd): relu's gate
    dw1 = dpre.flatten(0, 1).T @ h.flatten(0, 1)  # (kd, D)
    dh = dpre @ w1  # (M, C, D)
    dunit, dln_w, dln_b = torch.ops.aten.native_layer_norm_backward(
        dh, unit, [emb.shape[-1]], mean, rstd, ln_w, ln_b, [True, True, True])
    demb.add_(_normalize_backward(dunit, unit, en, eps))
    grads = (dhead.sum(1), dln_w, dln_b, dw1, dpre.sum((0, 1)), dw2, dhead.sum().reshape(1))
    return grads, dtau


def attention_beta(emb: Tensor, query: Tensor, key: Tensor, log_temp: Tensor,
                   strength: Tensor, ids: Tensor, keep: Tensor | None, eps: float,
                   null_params: tuple[Tensor, ...] = ()) -> Tensor:
    """β = α (1 − w) (M, K, B, C) of the sigmoid attention gate over a batch's own rows.

    emb (M, B, D); query, key (M, key_dim, D); log_temp, strength 0-dim; ids (M, K) long:
    target t's context modalities; keep (M, K, B) float 0/1 (hard_missing) or None;
    null_params: () without NULL, else (null_bias (M,), LayerNorm weight and bias (D,),
    w1 (key_dim, D), b1 (key_dim,), w2 (1, key_dim), b2 (1,)). All in emb's dtype."""
    beta: Tensor = _AttentionBeta.apply(emb, query, key, log_temp, strength, ids, keep, eps,
                                        *null_params)
    return beta


class _GatedProduct(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, emb: Tensor, neutrals: Tensor, beta: Tensor, ids: Tensor,
                eps: float) -> Tensor:
        m, b, d = emb.shape
        k = ids.shape[1]
        flat = ids.flatten()
        e_ctx = emb.index_select(0, flat).view(m, k, b, d)  # (M, K, B, D)
        n_ctx = neutrals.index_select(0, flat).view(m, k, 1, d)  # (M, K, 1, D)
        a2 = (e_ctx * e_ctx).sum(-1, keepdim=True)  # (M, K, B, 1)
        a = a2.clamp_min(eps * eps).sqrt()
        c = (e_ctx * n_ctx).sum(-1, keepdim=True) / a
        s2 = (n_ctx * n_ctx).sum(-1, keepdim=True) - c * c  # may round below 0: clamped
        products = torch.stack(_products(e_ctx, n_ctx), dim=1)  # (M, S, B, D), S = 2^K − 1
        emb_t = emb.transpose(1, 2)  # (M, D, C)
        values = list(torch.bmm(products.flatten(1, 2), emb_t).view(m, -1, b, b).unbind(1))
        all_neutral = _product(list(n_ctx[:, :, 0].unbind(1)))[:, None]  # (M, 1, D)
        values.append(torch.bmm(all_neutral, emb_t))  # (M, 1, C)
        betas = beta.unbind(1)
        levels = []
        for j in reversed(range(k)):  # fold the highest bit: keep·v[s] + β·v[s | bit]
            levels.append(values)
            values = [torch.lerp(values[s], values[s | 1 << j], betas[j]) for s in range(1 << j)]
        along = torch.lerp(a, c, beta)  # (M, K, B, C): u_m's component along ê_m
        sq = torch.addcmul(along * along, beta * beta, s2.clamp_min(0.0))  # ‖u_m‖²
        sq_floor = sq.clamp_min(eps * eps)
        inv = _product(list(sq_floor.unbind(1))).rsqrt()  # (M, B, C): Π_m 1/‖u_m‖
        out = values[0] * inv
        ctx.save_for_backward(emb, beta, e_ctx, n_ctx, a2, a, c, s2, products, all_neutral,
                              along, sq, sq_floor, inv, out)
        ctx.levels, ctx.info = levels, (ids, eps)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        (emb, beta, e_ctx, n_ctx, a2, a, c, s2, products, all_neutral, along, sq, sq_floor,
         inv, out) = ctx.saved_tensors
        ids, eps = ctx.info
        m, b, d = emb.shape
        k = ids.shape[1]
        grad = _flush_subnormal(grad)
        # out = X Π_m sq_m^(-1/2): dX and d sq_m (where sq_m was not floored)
        dsq = torch.where(sq >= eps * eps, (grad * out * -0.5)[:, None] / sq_floor, 0.0)
        grads, dbeta = _fold_backward(grad * inv, ctx.levels, beta.unbind(1))
        # sq = lerp(a, c, β)² + β² s2
        twice_along = 2 * dsq * along  # (M, K, B, C)
        dbeta = dbeta + twice_along * (c - a) + 2 * dsq * beta * s2.clamp_min(0.0)
        dc = (twice_along * beta).sum(-1, keepdim=True)  # (M, K, B, 1)
        da = twice_along.sum(-1, keepdim=True) - dc
        ds2 = (dsq * beta * beta).sum(-1, keepdim=True) * (s2 >= 0)
        dc = dc - 2 * c * ds2  # s2 = ‖n‖² − c²
        dn_ctx = 2 * n_ctx * ds2.sum(2, keepdim=True)  # (M, K, 1, D)
        dc_a = dc / a  # c = ⟨e, n⟩ / a
        de_ctx = dc_a * n_ctx + ((da - dc_a * c) / a * (a2 >= eps * eps)) * e_ctx
        dn_ctx = dn_ctx + (dc_a * e_ctx).sum(2, keepdim=True)
        # the terms' matmuls, then the products' factors
        dvalues = torch.stack(grads[:-1], dim=1).flatten(1, 2)  # (M, S·B, C)
        dproducts = torch.bmm(dvalues, emb).view(m, -1, b, d)  # (M, S, B, D)
        demb = torch.bmm(dvalues.transpose(1, 2), products.flatten(1, 2))  # (M, C, D)
        dneutral = grads[-1].sum(1, keepdim=True)  # (M, 1, C): the all-neutral term
        demb.baddbmm_(dneutral.transpose(1, 2), all_neutral)
        dall = torch.bmm(dneutral, emb)  # (M, 1, D)
        de, dn = _products_backward(dproducts, dall, e_ctx, n_ctx)
        de_ctx, dn_ctx = de_ctx + de, dn_ctx + dn
        flat = ids.flatten()
        demb.index_add_(0, flat, de_ctx.view(m * k, b, d))
        dneutrals = torch.zeros(m, d, dtype=emb.dtype, device=emb.device)
        dneutrals.index_add_(0, flat, dn_ctx.view(m * k, d))
        return demb, dneutrals, dbeta, None, None


def _product(factors: list[Tensor]) -> Tensor:
    out = factors[0]
    for f in factors[1:]:
        out = out * f
    return out


def _products(e_ctx: Tensor, n_ctx: Tensor) -> list[Tensor]:
    """⊙_j (n_j if bit j of s is set else e_j) for the subsets s < 2^K − 1 (at least one
    real embedding, so each is (M, B, D))."""
    k = e_ctx.shape[1]
    return [_product([n_ctx[:, j] if s >> j & 1 else e_ctx[:, j] for j in range(k)])
            .expand_as(e_ctx[:, 0]) for s in range((1 << k) - 1)]


def _fold_backward(dx: Tensor, levels: list[list[Tensor]], betas: tuple[Tensor, ...]
                   ) -> tuple[list[Tensor], Tensor]:
    """Backward of the nested lerps: d value[s] for every subset s (2^K, the last one
    (M, B, C) before its sum over B) and dβ (M, K, B, C)."""
    k = len(betas)
    grads, dbeta = [dx], [dx] * k
    for i in reversed(range(k)):  # levels[i] fed the lerps over bit j = k − 1 − i
        j, vals = k - 1 - i, levels[i]
        bit, new = 1 << (k - 1 - i), [dx] * (2 << (k - 1 - i))
        parts = []
        for s in range(bit):
            high = grads[s] * betas[j]
            new[s], new[s | bit] = grads[s] - high, high
            parts.append(grads[s] * (vals[s | bit] - vals[s]))
        dbeta[j] = _sum(parts)
        grads = new
    return grads, torch.stack(dbeta, dim=1)


def _sum(parts: list[Tensor]) -> Tensor:
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


def _products_backward(dproducts: Tensor, dall: Tensor, e_ctx: Tensor, n_ctx: Tensor
                       ) -> tuple[Tensor, Tensor]:
    """Gradients of the subset products (M, S, B, D) and of the all-neutral one (M, 1, D)
    with respect to each context slot's embeddings (M, K, B, D) and neutral (M, K, 1, D)."""
    k = e_ctx.shape[1]
    de: list[list[Tensor]] = [[] for _ in range(k)]
    dn: list[list[Tensor]] = [[] for _ in range(k)]
    for s in range(1 << k):
        upstream = dall if s == (1 << k) - 1 else dproducts[:, s]
        factors = [n_ctx[:, j] if s >> j & 1 else e_ctx[:, j] for j in range(k)]
        for j in range(k):
            part = upstream if k == 1 else upstream * _product(factors[:j] + factors[j + 1:])
            if s >> j & 1:
                dn[j].append(part.sum(1, keepdim=True))  # the neutral is shared by all rows
            else:
                de[j].append(part)
    zeros_e, zeros_n = torch.zeros_like(e_ctx[:, 0]), torch.zeros_like(n_ctx[:, 0])
    return (torch.stack([_sum(p) if p else zeros_e for p in de], dim=1),
            torch.stack([_sum(p).expand_as(zeros_n) if p else zeros_n for p in dn], dim=1))


def gated_product(emb: Tensor, neutrals: Tensor, beta: Tensor, ids: Tensor,
                  eps: float) -> Tensor:
    """Unscaled gated MIP of every target against the batch's own rows -> (M, B, C):
    emb (M, B, D) in modality order; neutrals (M, D) the unit n_m; beta (M, K, B, C);
    ids (M, K) long, target t's context modalities."""
    out: Tensor = _GatedProduct.apply(emb, neutrals, beta, ids, eps)
    return out
