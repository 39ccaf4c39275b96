"""Per-modality layers stored stacked (issue 24) compute what the separate layers did.

A `StackedMLP` is built from M `MLPEncoder`s: it must hold their initial values, run each
modality's input through its own copy (every subset of the modalities, dropout masks drawn
modality by modality as the separate encoders drew them), and give the gradients the
separate encoders give. The embedding methods' stacked `embed_batch` is held to the
per-modality form, in float64, values and gradients; weight decay judges a copy's shape.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robustlab.methods import METHODS
from robustlab.methods.base import seeded
from robustlab.methods.encoders import Mlp, MLPEncoder
from robustlab.methods.stacked import Encoders, StackedLinear, StackedMLP, linear_after_one

from .conftest import small_options

TOL = {"rtol": 1e-6, "atol": 1e-6}  # float64: the forms differ only in rounding
EQUAL = {"a": 6, "b": 6, "c": 6}


def _separate(options: Mlp, count: int = 3, seed: int = 0) -> list[MLPEncoder]:
    with seeded(seed):
        return [options.build(6).double() for _ in range(count)]  # type: ignore[misc]


def _inputs(count: int = 3, rows: int = 5, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(count, rows, 6, generator=g, dtype=torch.float64).requires_grad_()


@pytest.mark.parametrize("options", [Mlp(dim=4, depth=1, hidden=7),
                                     Mlp(dim=4, depth=2, hidden=7),
                                     Mlp(dim=4, depth=3, hidden=7, layer_norm=False)],
                         ids=["depth1", "depth2", "depth3_no_norm"])
def test_stacked_mlp_equals_its_encoders(options):
    """Initial values, outputs and every gradient (weights and inputs) of the stacked form
    are the separate encoders'."""
    encoders = _separate(options)
    stack = StackedMLP(encoders)
    for k, linear in enumerate(stack.linears):
        for i, e in enumerate(encoders):
            assert torch.equal(linear.weight[i], e.linears[k].weight)
            assert torch.equal(linear.bias[i], e.linears[k].bias)
    x = _inputs()
    got = stack(x)
    want = torch.stack([e(x[i]) for i, e in enumerate(encoders)])
    torch.testing.assert_close(got, want, **TOL)
    weights = torch.randn(got.shape, dtype=torch.float64)
    grads = torch.autograd.grad((got * weights).sum(), [x, *stack.parameters()])
    separate = [p for e in encoders for p in e.parameters()]
    want_grads = torch.autograd.grad((want * weights).sum(), [x, *separate])
    torch.testing.assert_close(grads[0], want_grads[0], **TOL)
    per_layer = len(list(encoders[0].parameters()))
    for j, g in enumerate(grads[1:]):  # parameter j of the stack: copy i is encoder i's
        for i in range(3):
            torch.testing.assert_close(g[i], want_grads[1 + i * per_layer + j], **TOL)


@pytest.mark.parametrize("which", [[1], [0, 2], [1, 2]])
def test_a_subset_of_the_modalities_runs_on_its_copies(which):
    encoders = _separate(Mlp(dim=4, depth=2, hidden=7))
    stack = StackedMLP(encoders)
    x = _inputs(count=len(which))
    got = stack(x, which)
    for s, i in enumerate(which):
        torch.testing.assert_close(got[s], encoders[i](x[s]), **TOL)
        torch.testing.assert_close(stack.one(i, x[s]), encoders[i](x[s]), **TOL)


def test_dropout_draws_each_modalitys_masks_in_turn():
    """In training with dropout the stacked form draws the masks the separate encoders draw
    one after the other from the same generator, so the outputs are the same."""
    options = Mlp(dim=4, depth=3, hidden=7, dropout=0.4)
    encoders = _separate(options)
    stack = StackedMLP(encoders).train()
    x = _inputs()
    got = stack(x, None, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    want = torch.stack([e.train()(x[i], generator=g) for i, e in enumerate(encoders)])
    torch.testing.assert_close(got, want, **TOL)
    assert not torch.equal(got, stack(x, None, torch.Generator().manual_seed(6)))


@pytest.mark.parametrize("rows", [5, 40], ids=["two_maps", "folded"])
@pytest.mark.parametrize("stacked", [True, False])
def test_encoders_then_a_layer_equals_the_two_maps(rows, stacked):
    """`Encoders.then`: the encoder's last map and the next layer, multiplied first when
    the batch is large enough (40 rows here), stacked or per modality."""
    encoders = _separate(Mlp(dim=8, depth=2, hidden=7))
    if not stacked:
        encoders[1] = Mlp(dim=8, depth=3, hidden=7).build(6).double()  # not alike
    store = Encoders(list("abc"), encoders)
    assert (store.stack is not None) == stacked
    layer = StackedLinear([nn.Linear(8, 9).double() for _ in range(3)])
    x = _inputs(rows=rows)
    got = store.then(layer, list(x), [0, 1, 2])
    for i, e in enumerate(encoders):
        want = layer.one(i, e(x[i]))
        torch.testing.assert_close(got[i], want, **TOL)
        one = linear_after_one(e, layer.weight[i], layer.bias[i], x[i])
        torch.testing.assert_close(one, want, **TOL)


@pytest.mark.parametrize("name", ["clip", "symile", "gated_symile", "gram", "triangle"])
def test_embedding_methods_embed_stacked_as_per_modality(name, make_batch):
    """`embed_batch` through the stacked encoders equals each modality's encoder and missing
    embedding applied alone, values and every gradient, with missing rows."""
    from robustlab.data.batch import Batch

    model = METHODS.get(name).build(small_options(name), EQUAL, Mlp(dim=16, depth=2,
                                                                    hidden=16)).double()
    assert model.embed.encoders.stack is not None
    g = torch.Generator().manual_seed(2)
    x = {m: torch.randn(8, 6, generator=g, dtype=torch.float64).requires_grad_()
         for m in EQUAL}
    mask = {m: torch.arange(8) != i for i, m in enumerate(EQUAL)}
    got = torch.stack(model.embed_batch(Batch(x=x, mask=mask, index=torch.arange(8))))
    want = torch.stack([torch.where(mask[m][:, None], model.embed.encoders.one(i, x[m]),
                                    model.embed.missing[i]) for i, m in enumerate(EQUAL)])
    if model.normalize:
        want = nn.functional.normalize(want, dim=-1, eps=1e-8)
    torch.testing.assert_close(got, want, **TOL)
    weights = torch.randn(got.shape, generator=g, dtype=torch.float64)
    inputs = [*x.values(), *model.embed.parameters()]
    for a, b in zip(torch.autograd.grad((got * weights).sum(), inputs),
                    torch.autograd.grad((want * weights).sum(), inputs), strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_weight_decay_judges_one_copy():
    """Stacked biases, norms and embeddings are (M, ·): not decayed, like the vectors they
    stack; stacked weight matrices are."""
    model = METHODS.get("coral").build(small_options("coral"), EQUAL, Mlp(dim=16, depth=2,
                                                                         hidden=16))
    groups = model.param_groups(1e-3, 0.1)
    decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    stack = model.fusion.encoders.stack
    assert stack is not None
    assert id(stack.layer(0).weight) in decayed
    for p in (stack.layer(0).bias, stack.norm(0).weight, model.unique_encoders.missing,
              model.unique.query):
        assert id(p) not in decayed
    assert id(model.fusion.tokenizers.position) in decayed  # (M, T, F): a copy is a matrix
