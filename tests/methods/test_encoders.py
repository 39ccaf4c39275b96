"""The encoder registry and the `mlp` backbone."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robustlab.methods import ENCODERS, options_from
from robustlab.methods.encoders import Mlp


def test_registry_and_defaults():
    assert ENCODERS.names() == ["mlp"]
    assert ENCODERS.get("mlp") is Mlp
    assert Mlp() == Mlp(dim=256, depth=3, hidden=256, dropout=0.0, layer_norm=True)


@pytest.mark.parametrize(
    ("field", "value"),
    [("dim", 0), ("depth", 0), ("hidden", -1), ("dropout", 1.0), ("dropout", -0.1),
     ("layer_norm", "yes"), ("dim", 2.5)],
)
def test_options_validated(field, value):
    with pytest.raises(ValueError, match=rf"Mlp\.{field}: must be .*got {value!r}"):
        Mlp(**{field: value})


def test_options_from_yaml_mapping():
    assert options_from(Mlp, {"dim": 8, "depth": 1}) == Mlp(dim=8, depth=1)
    with pytest.raises(ValueError, match=r"encoder\.dpeth: unknown .*did you mean 'depth'"):
        options_from(Mlp, {"dpeth": 3}, where="encoder")


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_shapes_and_depth(depth):
    net = Mlp(dim=8, depth=depth, hidden=12).build(5)
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == depth
    assert net(torch.zeros(3, 5)).shape == (3, 8)
    norms = [m for m in net.modules() if isinstance(m, nn.LayerNorm)]
    assert len(norms) == depth - 1
    assert not any(isinstance(m, nn.LayerNorm) for m in Mlp(depth=depth, layer_norm=False)
                   .build(5).modules())


def test_dropout_draws_from_the_generator_only():
    net = Mlp(dim=8, depth=3, hidden=64, dropout=0.5).build(5)
    x = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
    out = [net(x, generator=torch.Generator().manual_seed(s)) for s in (1, 1, 2)]
    assert torch.equal(out[0], out[1]) and not torch.equal(out[0], out[2])
    net.eval()  # evaluation: no dropout, whatever the generator
    assert torch.equal(net(x, generator=torch.Generator().manual_seed(1)),
                       net(x, generator=torch.Generator().manual_seed(2)))


def test_build_rejects_bad_width():
    with pytest.raises(ValueError, match="in_dim must be a positive int, got 0"):
        Mlp().build(0)
