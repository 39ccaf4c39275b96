"""Per-modality modules of the same shape run as one batched pass (issue 24).

CoMM and COrAL give every modality its own encoder, tokenizer and (COrAL) unique path:
M copies of the same small layers, each run on its own input. At the default study's batch
(64) such a layer is a few microseconds of arithmetic and several of dispatch and autograd
bookkeeping, so M separate passes cost about M times one. Here the M weights of a layer are
stacked for the step and the M inputs go through one batched matmul (`torch.baddbmm`) per
layer: the same functions, computed together (up to float reassociation; the parity tests
of `tests/methods/test_fusion_batched.py` hold the losses to the per-modality forms).

Stacking applies when the modules are built alike (`MLPEncoder`s of one configuration and
inputs of one width); dropout with p > 0 in training keeps the per-modality pass, whose
masks are drawn modality by modality from the loss generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.methods.encoders import MLPEncoder


def stackable(encoders: Sequence[nn.Module], inputs: Sequence[Tensor]) -> bool:
    """Whether `encoders` (one per input) can run as one batched pass."""
    mlps = [e for e in encoders if isinstance(e, MLPEncoder)]
    if len(encoders) < 2 or len(mlps) < len(encoders):
        return False
    shapes = {tuple(lin.weight.shape for lin in e.linears) for e in mlps}
    norms = {tuple(isinstance(n, nn.LayerNorm) for n in e.norms) for e in mlps}
    same_inputs = len({(x.shape, x.dtype, x.device) for x in inputs}) == 1
    dropout = any(e.training and e.p > 0 for e in mlps)  # masks drawn per modality
    return len(shapes) == 1 and len(norms) == 1 and same_inputs and not dropout


def linear(layers: Sequence[nn.Linear], x: Tensor) -> Tensor:
    """Layer m applied to x[m]: x (M, N, in) -> (M, N, out)."""
    weight = torch.stack([layer.weight for layer in layers])  # (M, out, in)
    bias = torch.stack([layer.bias for layer in layers])  # (M, out)
    return torch.baddbmm(bias[:, None, :], x, weight.transpose(1, 2))


def layer_norm(norms: Sequence[nn.Module], x: Tensor) -> Tensor:
    """Each modality's LayerNorm (or Identity) on x[m]: (M, N, W) -> (M, N, W)."""
    if not isinstance(norms[0], nn.LayerNorm):
        return x
    ln = [n for n in norms if isinstance(n, nn.LayerNorm)]
    weight = torch.stack([n.weight for n in ln])[:, None, :]  # (M, 1, W)
    bias = torch.stack([n.bias for n in ln])[:, None, :]
    return torch.addcmul(bias, F.layer_norm(x, x.shape[-1:], eps=ln[0].eps), weight)


def mlp_hidden(encoders: Sequence[MLPEncoder], x: Tensor) -> Tensor:
    """`MLPEncoder.hidden` of each modality on x[m] (no dropout): (M, N, in) -> (M, N, h)."""
    depth = len(encoders[0].linears)
    for i in range(depth - 1):
        h = linear([e.linears[i] for e in encoders], x)  # type: ignore[misc]
        x = F.gelu(layer_norm([e.norms[i] for e in encoders], h))
    return x


def linear_after(encoders: Sequence[MLPEncoder], layers: Sequence[nn.Linear],
                 x: Tensor) -> Tensor:
    """`fusion.linear_after` of each modality: layer m after encoder m on x[m],
    (M, N, in) -> (M, N, out), the two linear maps multiplied first when that costs fewer
    FLOPs (the same rule)."""
    h = mlp_hidden(encoders, x)  # (M, N, hidden)
    rows, hidden = h.shape[1], h.shape[2]
    out, dim = layers[0].weight.shape
    lasts = [e.last for e in encoders]
    if rows * dim * (hidden + out) <= out * dim * hidden + rows * hidden * out:
        return linear(layers, linear(lasts, h))
    w_layer = torch.stack([layer.weight for layer in layers])  # (M, out, dim)
    weight = torch.bmm(w_layer, torch.stack([last.weight for last in lasts]))  # (M, out, h)
    bias = torch.baddbmm(torch.stack([layer.bias for layer in layers])[:, :, None], w_layer,
                         torch.stack([last.bias for last in lasts])[:, :, None])  # (M, out, 1)
    return torch.baddbmm(bias.transpose(1, 2), h, weight.transpose(1, 2))


def mlp(layers: Sequence[nn.Sequential], x: Tensor) -> Tensor:
    """Each modality's Linear -> activation -> Linear `nn.Sequential` on x[m]:
    (M, N, in) -> (M, N, out)."""
    act = layers[0][1]
    hidden = linear([seq[0] for seq in layers], x)  # type: ignore[misc]
    return linear([seq[2] for seq in layers], act(hidden))  # type: ignore[misc]
