"""NT-Xent (SimCLR's normalised temperature-scaled cross-entropy), the contrastive loss of
CoMM and COrAL: one pair of views (`nt_xent`, the plain form the tests hold the fast one
to) and T terms in one batched pass (`nt_xent_terms`, what the losses call).

`nt_xent_terms` is an autograd Function with its backward written out (issue 24): the
gradient of a log-sum-exp is its softmax, so the backward is a few elementwise ops on the
exponentials the forward kept and four batched matmuls — about 20 ops where autograd ran
about 150 at the default study's batch (64). Its forward is the formula of the autograd
form (`nt_xent_terms_autograd`, kept as the tests' second reference and for temperatures
below the exp route's range), up to float reassociation.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

EPS = 1e-8  # F.normalize's floor on ‖z‖, as the plain form uses it


def nt_xent(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """SimCLR's NT-Xent between two views (N, K): each row's positive is the same row of the
    other view; negatives are every other row of both views. Mean over the 2N anchors."""
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=-1, eps=EPS)  # (2N, K)
    sim = z @ z.T / temperature  # (2N, 2N)
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)  # (2N,)
    return F.cross_entropy(sim, positive)


def nt_xent_terms(z1: Tensor, z2: Tensor, temperature: float, rows: Tensor) -> Tensor:
    """T NT-Xent terms in one batched pass: term t is `nt_xent(z1[t][rows[t]],
    z2[t][rows[t]])`. z1 (T, N, K); z2 (T, N, K), or (1, N, K) for one partner view shared
    by every term (its self-similarities are then formed once); rows (T, N) bool -> (T,).
    A term with fewer than 2 rows (no negative to contrast with) is 0; the caller drops it.

    The (2N, 2N) similarity matrix of a term is formed as its blocks: [z1·z1 | z1·z2] for
    the anchors of z1 (row log-sum-exp), the z1·z2 block read by columns plus z2·z2 for
    the anchors of z2. An entry pairing a row inside the term with one outside is hidden,
    so every anchor inside sees only the term's rows, and one outside (weight 0) still sees
    its own positive (no empty softmax, no NaN in any gradient). Half-precision inputs are
    computed in float32, autocast off."""
    dtype = torch.promote_types(z1.dtype, torch.float32)  # float64 stays
    if not _exp_route(1.0 / temperature, dtype):
        return nt_xent_terms_autograd(z1, z2, temperature, rows)
    with torch.autocast(device_type=z1.device.type, enabled=False):
        out: Tensor = _NtXentTerms.apply(z1.to(dtype), z2.to(dtype), rows, temperature)
    return out


def _exp_route(bound: float, dtype: torch.dtype) -> bool:
    """Similarities of unit vectors lie in [-1/τ, 1/τ]: shifted by the bound 1/τ, every
    exp(s − 1/τ) is <= 1 and >= exp(−2/τ), so one exp per entry with no per-row maximum
    serves both the row and the column sums — while exp(−2/τ) is a normal number of the
    dtype (τ ≳ 0.026 in float32)."""
    return 2 * bound <= -math.log(torch.finfo(dtype).tiny) - 10


def _similarities(a: Tensor, b: Tensor, rows: Tensor, bound: float) -> tuple[Tensor, Tensor]:
    """x = [a·a | a·b]/τ − 1/τ (T, N, 2N) and y = b·b/τ − 1/τ (T or 1, N, N), self-pairs and
    pairs across the term's boundary at −inf."""
    t, n = rows.shape
    shift = a.new_full((1, 1, 1), -bound)
    keys = torch.cat([a, b.expand(t, -1, -1)], dim=1).transpose(1, 2)  # (T, K, 2N)
    x = torch.baddbmm(shift, a, keys, alpha=bound)  # (T, N, 2N)
    y = torch.baddbmm(shift, b, b.transpose(1, 2), alpha=bound)  # (T or 1, N, N)
    x[:, :, :n].diagonal(dim1=1, dim2=2).fill_(-torch.inf)
    y.diagonal(dim1=1, dim2=2).fill_(-torch.inf)
    if not bool(rows.all()):
        hide = rows[:, :, None] ^ rows[:, None, :]  # (T, N, N): one row in, one out
        x.masked_fill_(hide.repeat(1, 1, 2), -torch.inf)
        y = y.masked_fill(hide, -torch.inf)  # now (T, N, N)
    return x, y


class _NtXentTerms(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, z1: Tensor, z2: Tensor, rows: Tensor, temperature: float) -> Tensor:
        n1 = torch.linalg.vector_norm(z1, dim=-1, keepdim=True)
        n2 = torch.linalg.vector_norm(z2, dim=-1, keepdim=True)
        a, b = z1 / n1.clamp_min(EPS), z2 / n2.clamp_min(EPS)  # (T, N, K), (T or 1, N, K)
        bound = 1.0 / temperature
        x, y = _similarities(a, b, rows, bound)
        ex, ey = x.exp_(), y.exp_()  # hidden entries (-inf) give 0
        n = rows.shape[1]
        sum_a = ex.sum(dim=2)  # (T, N): anchors of z1
        sum_b = ex.sum(dim=1)[:, n:] + ey.sum(dim=2)  # (T, N): anchors of z2
        positive = (torch.linalg.vecdot(a, b) - 1.0) * bound  # (T, N), shifted as x
        weight = rows.to(a.dtype)
        denom = (2 * weight.sum(dim=1)).clamp_min(1.0)  # (T,)
        ell = (sum_a.log() + sum_b.log() - 2 * positive) * weight
        ctx.save_for_backward(n1, n2, a, b, ex, ey, sum_a, sum_b, weight, denom)
        ctx.bound = bound
        return ell.sum(dim=1) / denom

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        n1, n2, a, b, ex, ey, sum_a, sum_b, weight, denom = ctx.saved_tensors
        bound, (t, n) = ctx.bound, weight.shape
        c = weight * (grad / denom)[:, None]  # (T, N): d out / d ell of each anchor pair
        # d/dx: the z1 anchors' softmax over their rows, the z2 anchors' over the columns
        # of the second block (and the rows of y); the positive pair's −2 on the diagonal
        gx = ex * (c / sum_a)[:, :, None]  # (T, N, 2N)
        c_b = c / sum_b  # (T, N)
        gx[:, :, n:].addcmul_(ex[:, :, n:], c_b[:, None, :])
        gx[:, :, n:].diagonal(dim1=1, dim2=2).sub_(2 * c)
        gx.mul_(bound)  # x = s / τ − 1/τ
        gy = ey * (c_b * bound)[:, :, None]  # (T, N, N)
        keys = torch.cat([a, b.expand(t, -1, -1)], dim=1)  # (T, 2N, K)
        dkeys = torch.bmm(gx.transpose(1, 2), a)  # (T, 2N, K): the keys' side of x
        da = torch.bmm(gx, keys) + dkeys[:, :n]  # (T, N, K)
        db = dkeys[:, n:].baddbmm(gy, b.expand(t, -1, -1)).baddbmm(
            gy.transpose(1, 2), b.expand(t, -1, -1))  # y is symmetric in its two b's
        if b.shape[0] == 1 < t:  # one partner view shared by every term
            db = db.sum(dim=0, keepdim=True)
        return _unit_backward(da, a, n1), _unit_backward(db, b, n2), None, None


def _unit_backward(grad: Tensor, unit: Tensor, norm: Tensor) -> Tensor:
    """d/dz of z / max(‖z‖, EPS) applied to `grad`; `unit` is that output, `norm` ‖z‖."""
    along = torch.linalg.vecdot(grad, unit)[..., None] * (norm >= EPS)
    return torch.addcmul(grad, unit, along, value=-1.0).div_(norm.clamp_min(EPS))


def nt_xent_terms_autograd(z1: Tensor, z2: Tensor, temperature: float, rows: Tensor) -> Tensor:
    """`nt_xent_terms` as autograd ops (the form before issue 24), with the max-shifted
    log-sum-exp when the exp route's range is left (τ ≲ 0.026 in float32)."""
    a = F.normalize(z1, dim=-1, eps=EPS)  # (T, N, K)
    b = F.normalize(z2, dim=-1, eps=EPS)  # (T or 1, N, K)
    bound = 1.0 / temperature
    x, y = _similarities(a, b, rows, bound)
    positive = ((a * b).sum(dim=-1) - 1.0) * bound  # (T, N), shifted as x
    x, y = (v.float() if v.dtype in (torch.float16, torch.bfloat16) else v for v in (x, y))
    n = y.shape[-1]
    if not _exp_route(bound, x.dtype):
        lse_a, lse_b = torch.logsumexp(x, dim=2), torch.logaddexp(
            torch.logsumexp(x[:, :, n:], dim=1), torch.logsumexp(y, dim=2))
    else:
        ex, ey = x.exp(), y.exp()  # hidden entries (-inf) give 0
        lse_a, lse_b = ex.sum(dim=2).log(), (ex.sum(dim=1)[:, n:] + ey.sum(dim=2)).log()
    weight = rows.to(positive.dtype)
    ell = (lse_a + lse_b - 2 * positive) * weight  # (T, N): both anchors of each pair
    return ell.sum(dim=1) / (2 * weight.sum(dim=1)).clamp_min(1.0)  # (T,)
