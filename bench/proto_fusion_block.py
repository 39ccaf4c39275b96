"""A tried and rejected fast path (issue 24): the one-block fusion transformer's CLS pass
(LayerNorm, the CLS query's attention over each view, output projection, MLP with GELU, the
final LayerNorm) as one autograd Function with a hand-written backward. It computes what
`FusionTransformer.forward` computes (the script checks values and gradients against it in
float64), and it was not faster: run this to compare the two, forward + backward for
CoMM's shapes at the default study's batch (128 rows = 2 copies x 64, 7 views, 12 tokens,
width 64, 4 heads), interleaved in one process, CPU time. Not imported by robustlab.

    .venv/bin/python bench/proto_fusion_block.py
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
EPS = 1e-5
ALL = [True, True, True]


def cls_pass(transformer: Any, tokens: Tensor, attend: Tensor) -> Tensor:
    """tokens (N, L, F), attend (N, G, 1 + L) with the CLS column -> (N, G, F)."""
    block = transformer.blocks[0]
    fc1, fc2 = block.mlp[0], block.mlp[2]
    params = (transformer.cls, block.ln_1.weight, block.ln_1.bias, block.qkv.weight,
              block.qkv.bias, block.out.weight, block.out.bias, block.ln_2.weight,
              block.ln_2.bias, fc1.weight, fc1.bias, fc2.weight, fc2.bias,
              transformer.norm.weight, transformer.norm.bias)
    out: Tensor = _ClsPass.apply(tokens, attend, block.heads, *params)
    return out


class _ClsPass(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, tokens: Tensor, attend: Tensor, heads: int, cls: Tensor,
                *params: Tensor) -> Tensor:
        (ln1_w, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b,
         norm_w, norm_b) = params
        n, length, f = tokens.shape
        groups, s, dh = attend.shape[1], length + 1, f // heads
        x = torch.cat([cls.expand(n, 1, f), tokens], dim=1)  # (N, S, F)
        h, mean1, rstd1 = torch.native_layer_norm(x, (f,), ln1_w, ln1_b, EPS)
        w_q, w_k, w_v = qkv_w.view(3, heads, dh, f)
        b_q, _, b_v = qkv_b.view(3, heads, dh)
        q = torch.mv(w_q.reshape(f, f), h[0, 0]).view(heads, dh) + b_q
        probe = torch.einsum("hd,hdf->fh", q, w_k) / math.sqrt(dh)  # (F, H)
        scores = (h.view(n * s, f) @ probe).view(n, s, heads).permute(1, 0, 2)  # (S, N, H)
        hidden = torch.zeros(attend.shape, dtype=h.dtype).masked_fill_(
            ~attend, -torch.inf).permute(2, 0, 1)[..., None]  # (S, N, G, 1)
        p = torch.softmax(scores[:, :, None, :] + hidden, dim=0)  # (S, N, G, H)
        weights = p.permute(1, 2, 3, 0).reshape(n, groups * heads, s)
        means = torch.bmm(weights, h).view(n * groups, heads, f)
        values = torch.bmm(means.transpose(0, 1), w_v.transpose(1, 2))  # (H, N·G, dh)
        values = values.transpose(0, 1).reshape(n * groups, f) + b_v.reshape(f)
        y = torch.addmm(out_b, values, out_w.t()).add_(cls.view(f))
        u, mean2, rstd2 = torch.native_layer_norm(y, (f,), ln2_w, ln2_b, EPS)
        a = torch.addmm(fc1_b, u, fc1_w.t())
        z = torch.addmm(fc2_b, F.gelu(a), fc2_w.t()).add_(y)
        out, mean3, rstd3 = torch.native_layer_norm(z, (f,), norm_w, norm_b, EPS)
        ctx.save_for_backward(x, h, mean1, rstd1, q, probe, p, weights, means, values, y, u,
                              mean2, rstd2, a, z, mean3, rstd3, *params)
        ctx.heads = heads
        return out.view(n, groups, f)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        (x, h, mean1, rstd1, q, probe, p, weights, means, values, y, u, mean2, rstd2, a, z,
         mean3, rstd3, *params) = ctx.saved_tensors
        ln1_w, ln1_b, qkv_w, _, out_w, _, ln2_w, ln2_b, fc1_w, _, fc2_w, _, norm_w, norm_b = \
            params
        heads, (n, s, f) = ctx.heads, x.shape
        groups, dh = grad.shape[1], f // heads
        dz, dnorm_w, dnorm_b = torch.ops.aten.native_layer_norm_backward(
            grad.reshape(n * groups, f), z, [f], mean3, rstd3, norm_w, norm_b, ALL)
        gelu_a = F.gelu(a)
        dfc2_w, dfc2_b = dz.t() @ gelu_a, dz.sum(0)
        da = torch.ops.aten.gelu_backward(dz @ fc2_w, a)
        dfc1_w, dfc1_b = da.t() @ u, da.sum(0)
        dy, dln2_w, dln2_b = torch.ops.aten.native_layer_norm_backward(
            da @ fc1_w, y, [f], mean2, rstd2, ln2_w, ln2_b, ALL)
        dy = dy.add_(dz)
        dout_w, dy_sum = dy.t() @ values, dy.sum(0)
        dvalues = (dy @ out_w).view(n * groups, heads, dh).transpose(0, 1)
        w_q, w_k, w_v = qkv_w.view(3, heads, dh, f)
        dw_v = torch.bmm(dvalues.transpose(1, 2), means.transpose(0, 1))
        dmeans = torch.bmm(dvalues, w_v).transpose(0, 1).reshape(n, groups * heads, f)
        dweights = torch.bmm(dmeans, h.transpose(1, 2))
        dh_ = torch.bmm(weights.transpose(1, 2), dmeans)
        dp = dweights.view(n, groups, heads, s).permute(3, 0, 1, 2)
        dscores = torch._softmax_backward_data(dp, p, 0, p.dtype).sum(2)
        dscores = dscores.permute(1, 0, 2).reshape(n * s, heads)
        dh_.view(n * s, f).addmm_(dscores, probe.t())
        dprobe = h.view(n * s, f).t() @ dscores / math.sqrt(dh)
        dq = torch.einsum("fh,hdf->hd", dprobe, w_k)
        dw_k = torch.einsum("hd,fh->hdf", q, dprobe)
        dw_q = torch.outer(dq.reshape(f), h[0, 0]).view(heads, dh, f)
        dh_[0, 0] += w_q.reshape(f, f).t() @ dq.reshape(f)
        dx, dln1_w, dln1_b = torch.ops.aten.native_layer_norm_backward(
            dh_, x, [f], mean1, rstd1, ln1_w, ln1_b, ALL)
        dcls = (dx[:, 0].sum(0) + dy_sum).view(1, 1, f)
        dqkv_w = torch.stack([dw_q, dw_k, dw_v]).view(3 * f, f)
        dqkv_b = torch.cat([dq.reshape(f), dq.new_zeros(f), dvalues.sum(1).reshape(f)])
        return (dx[:, 1:], None, None, dcls, dln1_w, dln1_b, dqkv_w, dqkv_b, dout_w, dy_sum,
                dln2_w, dln2_b, dfc1_w, dfc1_b, dfc2_w, dfc2_b, dnorm_w, dnorm_b)


def main() -> None:
    from robustlab.methods.fusion import FusionTransformer

    torch.set_num_threads(1)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    tokens = torch.randn(128, 12, 64, generator=g, dtype=torch.float64, requires_grad=True)
    keep = torch.rand(128, 7, 12, generator=g) < 0.7
    attend = torch.cat([keep.new_ones(128, 7, 1), keep], dim=2)
    weights = torch.randn(128, 7, 64, generator=g, dtype=torch.float64)
    for dtype in (torch.float64, torch.float32):
        transformer = FusionTransformer(64, 4, 1).to(dtype)
        leaves = [tokens.detach().to(dtype).requires_grad_(), *transformer.parameters()]
        w = weights.to(dtype)
        cases = {"autograd (kept)": lambda t=transformer, x=leaves[0]: t(x, keep),
                 "hand-written backward": lambda t=transformer, x=leaves[0]: cls_pass(t, x,
                                                                                     attend)}
        if dtype == torch.float64:  # the same function: values and every gradient
            got, want = (torch.autograd.grad((fn() * w).sum(), leaves) for fn in cases.values())
            for a, b in zip(got, want, strict=True):
                torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
            continue
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(9):
            for name, fn in cases.items():
                start = time.thread_time()
                for _ in range(20):
                    (fn() * w).sum().backward()
                times[name].append((time.thread_time() - start) / 20)
        for name, t in times.items():
            print(f"{name}: {1e3 * statistics.median(t):.2f} ms forward + backward")


if __name__ == "__main__":
    main()
