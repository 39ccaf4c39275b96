"""Per-modality layers of one shape stored and run as one stacked layer (issue 24).

Every method gives each modality its own encoder, and CoMM and COrAL their own tokenizer
and (COrAL) unique path and head: M copies of the same small layers, each run on its own
input. At the default study's batch (64) such a layer is a few microseconds of arithmetic
and several of dispatch and autograd bookkeeping, so M separate passes cost about M times
one, and every parameter tensor costs the optimizer, gradient clipping and gradient
accumulation ~10 µs a step of its own. Here the M copies of a layer are *one* module whose
parameters carry a leading modality axis: weights (M, out, in), biases (M, out), run on the
M inputs (M, N, in) by one batched matmul (`torch.baddbmm`) — the same functions, computed
together (the parity tests of `tests/methods/test_fusion_batched.py` and
`tests/methods/test_stacked.py` hold them to the per-modality forms).

Initialisation is unchanged: the copies are built as the separate modules they were (in the
same order, so drawing the same numbers from the seeded RNG) and their parameters stacked.
A subset of the modalities (`which`: indices in modality order) runs on its rows of each
parameter: evaluation encodes one modality, or a context pair.

Encoders are stacked when the modalities' backbones are `MLPEncoder`s of one configuration
and input width (`Encoders`); otherwise (different input widths, a plugin encoder) each
modality keeps its own module and only the layers after them are stacked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robustlab.methods.base import Stacked
from robustlab.methods.common import dropout
from robustlab.methods.encoders import MLPEncoder

Which = Sequence[int] | None  # modality indices in modality order; None: all of them


def pick(p: Tensor, which: Which) -> Tensor:
    """The copies `which` of a stacked parameter (M, ...) -> (S, ...): the whole tensor,
    a slice (a contiguous run of modalities) or a gather (evaluation's other subsets)."""
    if which is None:
        return p
    first, count = which[0], len(which)
    if list(which) == list(range(first, first + count)):
        # all of them: the parameter itself (a full-length slice would still cost a node
        # in the backward, which copies the gradient into a fresh tensor)
        return p if count == p.shape[0] else p.narrow(0, first, count)
    return p[list(which)]


class StackedLinear(Stacked):
    """M `nn.Linear` maps of one shape: weight (M, out, in), bias (M, out)."""

    def __init__(self, layers: Sequence[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]))

    def forward(self, x: Tensor, which: Which = None) -> Tensor:
        """Map s on x[s]: (S, N, in) -> (S, N, out)."""
        return torch.baddbmm(pick(self.bias, which)[:, None, :], x,
                             pick(self.weight, which).transpose(1, 2))

    def one(self, i: int, x: Tensor) -> Tensor:
        """Modality i's map alone: (N, in) -> (N, out)."""
        return F.linear(x, self.weight[i], self.bias[i])


class StackedLayerNorm(Stacked):
    """M `nn.LayerNorm`s over one width W: weight and bias (M, W)."""

    def __init__(self, norms: Sequence[nn.LayerNorm]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([n.weight.detach() for n in norms]))
        self.bias = nn.Parameter(torch.stack([n.bias.detach() for n in norms]))
        self.eps = norms[0].eps

    def forward(self, x: Tensor, which: Which = None) -> Tensor:
        """(S, N, W) -> (S, N, W)."""
        return torch.addcmul(pick(self.bias, which)[:, None, :],
                             F.layer_norm(x, x.shape[-1:], eps=self.eps),
                             pick(self.weight, which)[:, None, :])


class StackedMLP(nn.Module):
    """M `MLPEncoder`s of one configuration and input width (see `MLPEncoder`: linear ->
    (LayerNorm) -> GELU -> dropout, ..., linear)."""

    def __init__(self, encoders: Sequence[MLPEncoder]) -> None:
        super().__init__()
        first = encoders[0]
        self.linears = nn.ModuleList(
            StackedLinear([cast(nn.Linear, e.linears[i]) for e in encoders])
            for i in range(len(first.linears)))
        self.layer_norm = any(isinstance(n, nn.LayerNorm) for n in first.norms)
        self.norms = nn.ModuleList(
            StackedLayerNorm([cast(nn.LayerNorm, e.norms[i]) for e in encoders])
            for i in range(len(first.norms)) if self.layer_norm)
        self.p, self.count = first.p, len(encoders)

    @property
    def last(self) -> StackedLinear:
        return self.layer(len(self.linears) - 1)

    @property
    def in_dim(self) -> int:
        return int(self.layer(0).weight.shape[-1])

    def layer(self, k: int) -> StackedLinear:
        return cast(StackedLinear, self.linears[k])

    def norm(self, k: int) -> StackedLayerNorm:
        return cast(StackedLayerNorm, self.norms[k])

    def forward(self, x: Tensor, which: Which = None,
                generator: torch.Generator | None = None) -> Tensor:
        """x (S, N, in) -> (S, N, dim)."""
        return self.last(self.hidden(x, which, generator), which)

    def hidden(self, x: Tensor, which: Which = None,
               generator: torch.Generator | None = None) -> Tensor:
        """Every layer but the last linear one: (S, N, in) -> (S, N, hidden). Dropout draws
        each modality's masks in turn from `generator`, as the separate encoders did."""
        if not (self.training and self.p > 0):
            return self._hidden(x, which, None)
        ids = range(self.count) if which is None else which
        g = generator if generator is not None else torch.Generator().manual_seed(0)
        return torch.cat([self._hidden(x[s:s + 1], [i], g) for s, i in enumerate(ids)])

    def one(self, i: int, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Modality i's encoder alone, written per layer as `MLPEncoder` runs it (the
        parity tests' reference): (N, in) -> (N, dim)."""
        for k in range(len(self.linears) - 1):
            x = self.layer(k).one(i, x)  # (N, hidden)
            if self.layer_norm:
                norm = self.norm(k)
                x = F.layer_norm(x, x.shape[-1:], norm.weight[i], norm.bias[i], norm.eps)
            x = F.gelu(x)
            if self.training and self.p > 0:
                g = generator if generator is not None else torch.Generator().manual_seed(0)
                x = dropout(x, self.p, g, True)
        return self.last.one(i, x)

    def _hidden(self, x: Tensor, which: Which, generator: torch.Generator | None) -> Tensor:
        for k in range(len(self.linears) - 1):
            x = self.layer(k)(x, which)
            x = F.gelu(self.norm(k)(x, which) if self.layer_norm else x)  # (S, N, hidden)
            if generator is not None:
                x = dropout(x, self.p, generator, True)
        return x


class StackedTwoLayer(nn.Module):
    """M `nn.Sequential(Linear, activation, Linear)` of one shape (COrAL's token MLPs and
    the projection heads)."""

    def __init__(self, layers: Sequence[nn.Sequential]) -> None:
        super().__init__()
        self.first = StackedLinear([seq[0] for seq in layers])  # type: ignore[misc]
        self.act = layers[0][1]
        self.second = StackedLinear([seq[2] for seq in layers])  # type: ignore[misc]

    def forward(self, x: Tensor, which: Which = None) -> Tensor:
        """(S, N, in) -> (S, N, out)."""
        return self.second(self.act(self.first(x, which)), which)

    def one(self, i: int, x: Tensor) -> Tensor:
        """Modality i's alone: (N, in) -> (N, out)."""
        return self.second.one(i, self.act(self.first.one(i, x)))


def stackable(encoders: Sequence[nn.Module]) -> bool:
    """Whether per-modality backbones can be one `StackedMLP`: `MLPEncoder`s of one shape
    (configuration and input width), at least two."""
    mlps = [e for e in encoders if isinstance(e, MLPEncoder)]
    if len(encoders) < 2 or len(mlps) < len(encoders):
        return False
    shapes = {tuple(lin.weight.shape for lin in e.linears) for e in mlps}
    norms = {tuple(isinstance(n, nn.LayerNorm) for n in e.norms) for e in mlps}
    return len(shapes) == 1 and len(norms) == 1 and len({e.p for e in mlps}) == 1


class Encoders(nn.Module):
    """The modalities' backbones (one per modality, in modality order): one `StackedMLP`
    where they are alike (`stackable`), else a module per modality (`per_modality`)."""

    def __init__(self, names: Sequence[str], built: Sequence[nn.Module]) -> None:
        super().__init__()
        self.names = tuple(names)
        self.stack = StackedMLP(cast(Sequence[MLPEncoder], built)) if stackable(built) else None
        self.per_modality = None if self.stack is not None else nn.ModuleDict(
            dict(zip(names, built, strict=True)))

    def forward(self, x: Sequence[Tensor], which: Sequence[int],
                generator: torch.Generator | None = None) -> Tensor:
        """The backbones `which` on their inputs x[s] (N, d_s) -> (S, N, D)."""
        if self.stack is not None:
            return self.stack(torch.stack(list(x)), which, generator)
        return torch.stack([self.module(i)(v, generator=generator)
                            for i, v in zip(which, x, strict=True)])

    def then(self, layer: StackedLinear, x: Sequence[Tensor], which: Sequence[int],
             generator: torch.Generator | None = None) -> Tensor:
        """layer(backbone(x)) for the modalities `which`: (S, N, out), the backbone's last
        linear map and `layer` multiplied first where that costs fewer FLOPs
        (`linear_after`)."""
        if self.stack is not None:
            return linear_after(self.stack, layer, torch.stack(list(x)), which, generator)
        return torch.stack([
            linear_after_one(self.module(i), layer.weight[i], layer.bias[i], v, generator)
            for i, v in zip(which, x, strict=True)])

    def one(self, i: int, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Modality i's backbone alone, per layer (the parity tests' reference): (N, d_i) ->
        (N, D)."""
        if self.stack is not None:
            return self.stack.one(i, x, generator)
        out: Tensor = self.module(i)(x, generator=generator)
        return out

    def module(self, i: int) -> nn.Module:
        """Modality i's own backbone (per-modality storage only)."""
        assert self.per_modality is not None
        return self.per_modality[self.names[i]]


def fold_cheaper(rows: int, hidden: int, dim: int, out: int) -> bool:
    """Whether multiplying the maps (hidden -> dim) and (dim -> out) first and applying one
    (hidden -> out) map to `rows` rows costs fewer FLOPs than the two products."""
    return rows * dim * (hidden + out) > out * dim * hidden + rows * hidden * out


def linear_after(encoders: StackedMLP, layer: StackedLinear, x: Tensor, which: Which = None,
                 generator: torch.Generator | None = None) -> Tensor:
    """layer(encoder(x)) of every modality `which` on x[s]: (S, N, in) -> (S, N, out). An
    `MLPEncoder` ends in a linear map L, and layer ∘ L is one linear map: when the batch is
    large enough (`fold_cheaper`, e.g. more than 256 rows at width 256), forming its weight
    first costs fewer FLOPs than the two products. The same function either way."""
    h = encoders.hidden(x, which, generator)  # (S, N, hidden)
    out, dim = layer.weight.shape[1:]
    if not fold_cheaper(h.shape[1], h.shape[2], dim, out):
        return layer(encoders.last(h, which), which)
    w_layer = pick(layer.weight, which)  # (S, out, dim)
    last = encoders.last
    weight = torch.bmm(w_layer, pick(last.weight, which))  # (S, out, hidden)
    bias = torch.baddbmm(pick(layer.bias, which)[:, :, None], w_layer,
                         pick(last.bias, which)[:, :, None])  # (S, out, 1)
    return torch.baddbmm(bias.transpose(1, 2), h, weight.transpose(1, 2))


def linear_after_one(encoder: nn.Module, weight: Tensor, bias: Tensor, x: Tensor,
                     generator: torch.Generator | None = None) -> Tensor:
    """F.linear(encoder(x), weight, bias) for one modality's own backbone: (N, in) ->
    (N, out), folded as `linear_after` where cheaper (an `MLPEncoder` only)."""
    if not isinstance(encoder, MLPEncoder):
        return F.linear(encoder(x, generator=generator), weight, bias)
    h, last = encoder.hidden(x, generator), encoder.last  # (N, hidden)
    if not fold_cheaper(h.shape[0], h.shape[1], *weight.shape[::-1]):
        return F.linear(last(h), weight, bias)
    return F.linear(h, weight @ last.weight, weight @ last.bias + bias)  # (N, out)


def by_modality(names: Sequence[str], values: Mapping[str, Tensor]) -> tuple[list[int],
                                                                             list[Tensor]]:
    """The modality indices (in `names` order) of the keys of `values`, and their values."""
    keys = list(values)
    return [names.index(m) for m in keys], [values[m] for m in keys]
