"""The batched fusion losses equal the per-view forms they replaced (issue 12).

CoMM and COrAL run every view of both augmented copies through the fusion transformer and
the heads in one pass and take the NT-Xent terms from slices. This module keeps the
per-view form they replaced, written out with `scaled_dot_product_attention` one view at a
time, as the independent reference: given the *same* drawn augmentations and masks, the
two must agree in value and in every gradient, in float64, with missing modalities.
"""

from __future__ import annotations

from itertools import combinations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from robustlab.methods.encoders import Mlp
from robustlab.methods.fusion import FusionEncoder, nt_xent, nt_xent_terms
from robustlab.methods.nt_xent import nt_xent_terms_autograd
from robustlab.methods.stacked import linear_after_one

TOL = {"rtol": 1e-6, "atol": 1e-6}  # float64: the two forms differ only in rounding


# ---------------------------------------------------------------- the per-view reference


def reference_fuse(fusion: FusionEncoder, tokens: dict[str, Tensor],
                   keep: dict[str, Tensor]) -> Tensor:
    """Z (B, F) of one view: only the kept modalities' tokens, every position through every
    block, attention by `scaled_dot_product_attention` (the pre-issue-12 forward)."""
    names = list(keep)
    x = torch.cat([tokens[m] for m in names], dim=1)  # (B, L, F)
    mask = torch.cat([fusion.token_mask(keep[m]) for m in names], dim=1)  # (B, L)
    tr = fusion.transformer
    b, width = x.shape[0], x.shape[2]
    x = torch.cat([tr.cls.expand(b, -1, -1), x], dim=1)
    attend = torch.cat([mask.new_ones(b, 1), mask], dim=1)  # CLS always attends
    for block in tr.blocks:
        length, heads = x.shape[1], block.heads
        qkv = block.qkv(block.ln_1(x)).view(b, length, 3, heads, width // heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        h = F.scaled_dot_product_attention(q, k, v, attn_mask=attend[:, None, None, :])
        x = x + block.out(h.transpose(1, 2).reshape(b, length, width))
        x = x + block.mlp(block.ln_2(x))
    return tr.norm(x[:, 0])


def reference_tokenize(fusion: FusionEncoder, x: dict[str, Tensor]) -> dict[str, Tensor]:
    """Encoder, then tokenizer, one modality at a time (each with its own copy of the
    stacked parameters): the two linear maps applied one after the other."""
    index = fusion.names.index
    return {m: fusion.tokenizers.one(index(m), fusion.encoders.one(index(m), v))
            for m, v in x.items()}


def reference_embed(embed, i: int, x: Tensor, mask: Tensor) -> Tensor:
    """One modality's encoder output, or its missing embedding on masked rows."""
    return torch.where(mask[:, None], embed.encoders.one(i, x), embed.missing[i])


def nt_xent_rows(z1: Tensor, z2: Tensor, tau: float, rows: Tensor) -> Tensor | None:
    return None if int(rows.sum()) < 2 else nt_xent(z1[rows], z2[rows], tau)


def reference_comm_loss(model, x1, x2, mask) -> dict[str, Tensor]:
    """CoMM's loss one view at a time (the pre-issue-12 form)."""
    t1, t2 = reference_tokenize(model.fusion, x1), reference_tokenize(model.fusion, x2)
    full1 = model.head(reference_fuse(model.fusion, t1, dict(mask)))
    full2 = model.head(reference_fuse(model.fusion, t2, dict(mask)))
    tau = model.options.temperature
    sizes = (1, 2) if model.options.pair_views in (True, "auto") else (1,)  # auto: retrieval
    views = {"view_" + "_".join(ms): {m: mask[m] for m in ms}
             for k in sizes for ms in combinations(model.modalities, k)}
    views["view_full"] = dict(mask)
    terms = {}
    for name, keep in views.items():
        rows = torch.stack(list(keep.values())).any(dim=0)
        z1, z2 = (full1, full2) if name == "view_full" else (
            model.head(reference_fuse(model.fusion, t1, keep)),
            model.head(reference_fuse(model.fusion, t2, keep)))
        a, b = nt_xent_rows(z1, full2, tau, rows), nt_xent_rows(z2, full1, tau, rows)
        if a is not None and b is not None:
            terms[name] = (a + b) / 2
    return {"loss": torch.stack(list(terms.values())).mean(), **terms}


def reference_coral_loss(model, views, mask) -> dict[str, Tensor]:
    """COrAL's loss one view and one path at a time (the pre-issue-12 form)."""
    outs = []
    for view in views:
        s = reference_fuse(model.fusion, reference_tokenize(model.fusion, view.inputs), view.keep)
        out = {"s": model.head(s)}
        for i, m in enumerate(model.modalities):
            u = model.unique.one(i, reference_embed(model.unique_encoders, i, view.inputs[m],
                                                    mask[m]))
            out[m] = model.unique_heads.one(i, u)
        outs.append(out)
    present = dict(mask)
    present["s"] = torch.stack(list(mask.values())).any(dim=0)
    tau = model.options.temperature
    terms = {}
    for name in ["s", *model.modalities]:
        term = nt_xent_rows(outs[0][name], outs[1][name], tau, present[name])
        if term is not None:
            terms["shared" if name == "s" else f"unique_{name}"] = term
    ortho = []
    for out in outs:
        for p, q in combinations(list(out), 2):
            rows = present[p] & present[q]
            if bool(rows.any()):
                ortho.append((F.cosine_similarity(out[p][rows], out[q][rows], dim=-1) ** 2)
                             .mean())
    terms["ortho"] = torch.stack(ortho).sum()
    total = model.options.ortho_weight * terms["ortho"] + sum(
        v for k, v in terms.items() if k != "ortho")
    if model.options.pair_views in (True, "auto"):  # auto unresolved counts as retrieval
        retrieval = reference_coral_view_terms(model, views, mask, outs[0]["s"], outs[1]["s"])
        total = total + torch.stack(list(retrieval.values())).mean()
        terms.update(retrieval)
    return {"loss": total, **terms}


def reference_coral_view_terms(model, views, mask, full1, full2) -> dict[str, Tensor]:
    """COrAL's pair views one at a time: each one- and two-modality shared view of a copy
    (whole modalities, no token masking) against the other copy's full shared view."""
    tau, terms = model.options.temperature, {}
    t1, t2 = (reference_tokenize(model.fusion, view.inputs) for view in views)
    for k in (1, 2):
        for ms in combinations(model.modalities, k):
            keep = {m: mask[m] for m in ms}
            rows = torch.stack(list(keep.values())).any(dim=0)
            z1 = model.head(reference_fuse(model.fusion, t1, keep))
            z2 = model.head(reference_fuse(model.fusion, t2, keep))
            a, b = nt_xent_rows(z1, full2, tau, rows), nt_xent_rows(z2, full1, tau, rows)
            if a is not None and b is not None:
                terms["view_" + "_".join(ms)] = (a + b) / 2
    return terms


# ---------------------------------------------------------------- helpers


def _double(model):
    return model.double().train()


def _gradients(model, loss: Tensor, inputs: list[Tensor]) -> dict[str, Tensor]:
    """d loss / d every parameter and every input, by name."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = [p for n, p in model.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [*params, *inputs], allow_unused=True)
    out = dict(zip(names + [f"input{i}" for i in range(len(inputs))], grads, strict=True))
    return {k: torch.zeros(1, dtype=torch.float64) if g is None else g for k, g in out.items()}


def _assert_same(batched: dict[str, Tensor], reference: dict[str, Tensor], model,
                 inputs: list[Tensor]) -> None:
    assert set(batched) == set(reference)
    for name, value in reference.items():
        torch.testing.assert_close(batched[name].detach(), value.detach(), **TOL, msg=name)
    got = _gradients(model, batched["loss"], inputs)
    want = _gradients(model, reference["loss"], inputs)
    for name, g in want.items():
        torch.testing.assert_close(got[name], g, **TOL, msg=f"d loss / d {name}")


def _copies(batch, seed: int) -> list[dict[str, Tensor]]:
    """Two drawn 'augmented' copies of the inputs (float64, requiring grad)."""
    g = torch.Generator().manual_seed(seed)
    return [{m: (v.double() + torch.randn(v.shape, generator=g, dtype=torch.float64))
             .requires_grad_() for m, v in batch.x.items()} for _ in range(2)]


MISSING = {  # every modality missing somewhere, row 7 missing everything
    "some": {"a": [0, 7], "b": [1, 2, 7], "c": [3, 7]},
    "none": {},
    "c_on_one_row": {"c": [0, 1, 2, 3, 4, 5, 6]},  # view c has one row: its term is left out
}


# ---------------------------------------------------------------- the fusion transformer


@pytest.mark.parametrize("layers", [1, 2])
def test_fuse_views_equals_each_view_fused_alone(layers, build, make_batch):
    model = _double(build("comm", fusion_layers=layers))
    batch = make_batch(4, missing=MISSING["some"])
    tokens = model.fusion.tokenize({m: v.double() for m, v in batch.x.items()})
    g = torch.Generator().manual_seed(1)
    per_token = torch.rand(batch.size, model.options.num_tokens, generator=g) < 0.5
    views = [{"a": batch.mask["a"]},
             {"b": batch.mask["b"], "c": per_token & batch.mask["c"][:, None]},  # per token
             dict(batch.mask), {"c": torch.zeros(batch.size, dtype=torch.bool)}]  # CLS only
    together = model.fusion.fuse_views(tokens, views)  # (B, V, F)
    for v, keep in enumerate(views):
        alone = reference_fuse(model.fusion, tokens, keep)
        torch.testing.assert_close(together[:, v], alone, **TOL)
        torch.testing.assert_close(model.fusion.fuse(tokens, keep), alone, **TOL)


@pytest.mark.parametrize(("dtype", "tau"), [(torch.float64, 0.3), (torch.float64, 0.001),
                                           (torch.float32, 0.5), (torch.float32, 0.02)],
                         ids=["f64-exp", "f64-logsumexp", "f32-exp", "f32-logsumexp"])
def test_nt_xent_terms_equal_each_term_on_its_rows(dtype, tau):
    """Both log-sum-exp routes (one exp per entry; max-shifted below τ ≈ 2/87 in float32),
    with a partner view per term and one shared by all, against `nt_xent` on the rows."""
    g = torch.Generator().manual_seed(0)
    z1, z2 = (torch.randn(3, 9, 5, generator=g, dtype=dtype) for _ in range(2))
    rows = torch.rand(3, 9, generator=g) < 0.6
    rows[0] = True
    z1 = z1.requires_grad_()
    got = nt_xent_terms(z1, z2, tau, rows)
    shared = nt_xent_terms(z1, z2[:1], tau, rows)  # one partner view for every term
    tol = TOL if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-4}
    for t in range(3):
        want = nt_xent(z1[t][rows[t]], z2[t][rows[t]], tau)
        torch.testing.assert_close(got[t], want, **tol)
        torch.testing.assert_close(shared[t], nt_xent(z1[t][rows[t]], z2[0][rows[t]], tau),
                                   **tol)
        grad, = torch.autograd.grad(got[t], z1, retain_graph=True)
        want_grad, = torch.autograd.grad(want, z1, retain_graph=True)
        torch.testing.assert_close(grad, want_grad, **tol)


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("all_rows", [False, True])
def test_nt_xent_terms_backward_is_autograds(shared, all_rows):
    """The analytic backward of the Function (issue 24) against gradcheck and against
    autograd through the same formula, for both views, one partner view shared by every
    term or one per term, all rows in or some out (one term with a single row)."""
    g = torch.Generator().manual_seed(1)
    z1 = torch.randn(3, 6, 4, generator=g, dtype=torch.float64).requires_grad_()
    z2 = torch.randn(1 if shared else 3, 6, 4, generator=g,
                     dtype=torch.float64).requires_grad_()
    rows = torch.ones(3, 6, dtype=torch.bool)
    if not all_rows:
        rows = torch.rand(3, 6, generator=g) < 0.6
        rows[1] = False
        rows[1, 2] = True
    assert torch.autograd.gradcheck(lambda a, b: nt_xent_terms(a, b, 0.3, rows), (z1, z2))
    weights = torch.randn(3, generator=g, dtype=torch.float64)
    got = torch.autograd.grad((nt_xent_terms(z1, z2, 0.3, rows) * weights).sum(), (z1, z2))
    want = torch.autograd.grad((nt_xent_terms_autograd(z1, z2, 0.3, rows) * weights).sum(),
                               (z1, z2))
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_linear_after_folds_the_encoders_last_layer():
    """linear(encoder(x)) with the encoder's last linear layer multiplied into `linear`
    (taken when the batch has enough rows): same values and gradients as the two maps."""
    encoder = Mlp(dim=16, depth=3, hidden=12).build(5).double()
    linear = torch.nn.Linear(16, 16).double()
    for rows, folded in ((8, False), (64, True)):
        x = torch.randn(rows, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        h = encoder.hidden(x)
        assert (rows * 16 * (12 + 16) > 16 * 16 * 12 + rows * 12 * 16) == folded
        params = [*encoder.parameters(), *linear.parameters()]
        got = linear_after_one(encoder, linear.weight, linear.bias, x)
        want = linear(encoder.last(h))
        torch.testing.assert_close(got, want, **TOL)
        weights = torch.randn(got.shape, dtype=torch.float64)
        for g, w in zip(torch.autograd.grad((got * weights).sum(), params),
                        torch.autograd.grad((want * weights).sum(), params), strict=True):
            torch.testing.assert_close(g, w, **TOL)


# ---------------------------------------------------------------- CoMM


@pytest.mark.parametrize("missing", MISSING)
@pytest.mark.parametrize("options", [{}, {"pair_views": False}, {"pair_views": True},
                                     {"pair_views": False, "fusion_layers": 2},
                                     {"pair_views": True, "fusion_layers": 2}],
                         ids=["default", "no_pair_views", "pair_views", "2_layers",
                              "pair_views_2_layers"])
def test_comm_batched_loss_equals_the_per_view_form(options, missing, build, make_batch):
    model = _double(build("comm", **options))
    batch = make_batch(2, missing=MISSING[missing])
    x1, x2 = _copies(batch, 3)
    batched = model.loss_of_copies(x1, x2, batch.mask)
    reference = reference_comm_loss(model, x1, x2, batch.mask)
    _assert_same(batched, reference, model, [*x1.values(), *x2.values()])


@pytest.mark.parametrize("pair_views", [True, False])
@pytest.mark.parametrize("name", ["comm", "coral"])
def test_batched_loss_equals_the_per_view_form_on_a_batch_that_folds(name, pair_views, build,
                                                                       make_batch):
    """40 rows (80 with both copies) exceed the encoder width 16: the encoder's last layer
    is folded into the tokenizers (`linear_after`), which the per-view reference does not."""
    model = _double(build(name, pair_views=pair_views))
    batch = make_batch(8, size=40, missing=MISSING["some"])
    if name == "comm":
        x1, x2 = _copies(batch, 3)
        batched = model.loss_of_copies(x1, x2, batch.mask)
        reference = reference_comm_loss(model, x1, x2, batch.mask)
        _assert_same(batched, reference, model, [*x1.values(), *x2.values()])
        return
    batch = type(batch)(x={m: v.double() for m, v in batch.x.items()}, mask=batch.mask,
                        index=batch.index)
    views = model.draw_views(batch, torch.Generator().manual_seed(7))
    inputs = [v.requires_grad_() for view in views for v in view.inputs.values()]
    _assert_same(model.loss_of_views(views, batch.mask),
                 reference_coral_loss(model, views, batch.mask), model, inputs)


EQUAL_DIMS = {"a": 6, "b": 6, "c": 6}  # one input width: the modalities run stacked


def _equal_width_batch(seed: int, size: int, missing: dict[str, list[int]]):
    from robustlab.data.batch import Batch

    g = torch.Generator().manual_seed(seed)
    x = {m: torch.randn(size, d, generator=g, dtype=torch.float64) for m, d in EQUAL_DIMS.items()}
    mask = {m: torch.ones(size, dtype=torch.bool) for m in EQUAL_DIMS}
    for m, rows in missing.items():
        mask[m][rows] = False
        x[m][rows] = 0.0
    return Batch(x=x, mask=mask, index=torch.arange(size))


@pytest.mark.parametrize("size", [8, 40], ids=["unfolded", "folded"])
@pytest.mark.parametrize("pair_views", [True, False])
@pytest.mark.parametrize("name", ["comm", "coral"])
def test_stacked_modalities_equal_the_per_view_form(name, pair_views, size, small_options,
                                                    encoder):
    """Modalities of one input width run their encoders, tokenizers (and COrAL's unique
    paths and heads) as one batched pass (issue 24): values and gradients as the per-view,
    per-modality reference, with missing rows, folded (40 rows) or not (8)."""
    from robustlab.methods import METHODS

    model = _double(METHODS.get(name).build(small_options(name, pair_views=pair_views),
                                            EQUAL_DIMS, encoder, seed=1))
    batch = _equal_width_batch(4, size, MISSING["some"])
    assert model.fusion.encoders.stack is not None  # the path under test is taken
    assert name == "comm" or model.unique_encoders.encoders.stack is not None
    if name == "comm":
        x1, x2 = _copies(batch, 3)
        _assert_same(model.loss_of_copies(x1, x2, batch.mask),
                     reference_comm_loss(model, x1, x2, batch.mask), model,
                     [*x1.values(), *x2.values()])
        return
    views = model.draw_views(batch, torch.Generator().manual_seed(7))
    inputs = [v.requires_grad_() for view in views for v in view.inputs.values()]
    _assert_same(model.loss_of_views(views, batch.mask),
                 reference_coral_loss(model, views, batch.mask), model, inputs)


def test_comm_loss_draws_views_first_then_fuses(build, batch):
    """`loss` is `loss_of_copies` on the two copies drawn first from the generator."""
    model = build("comm")
    out = model.loss(batch, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    x1, x2 = model.augmented_inputs(batch, g), model.augmented_inputs(batch, g)
    again = model.loss_of_copies(x1, x2, batch.mask)
    for name, value in out.items():
        torch.testing.assert_close(value, again[name])


# ---------------------------------------------------------------- COrAL


@pytest.mark.parametrize("missing", MISSING)
@pytest.mark.parametrize("options", [{}, {"pair_views": False}, {"pair_views": True},
                                     {"pair_views": False, "fusion_layers": 2},
                                     {"pair_views": True, "fusion_layers": 2},
                                     {"mask_ratio": 0.0}],
                         ids=["default", "no_pair_views", "pair_views", "2_layers",
                              "pair_views_2_layers", "no_token_masking"])
def test_coral_batched_loss_equals_the_per_view_form(options, missing, build, make_batch):
    model = _double(build("coral", **options))
    batch = make_batch(6, missing=MISSING[missing])
    batch = type(batch)(x={m: v.double() for m, v in batch.x.items()}, mask=batch.mask,
                        index=batch.index)
    views = model.draw_views(batch, torch.Generator().manual_seed(7))
    masked = [m for m in model.modalities if views[0].keep[m].ndim == 2]
    assert len(masked) == 1 and views[1].keep[masked[0]].ndim == 1  # complementary masking
    for view in views:
        for v in view.inputs.values():
            v.requires_grad_()
    batched = model.loss_of_views(views, batch.mask)
    reference = reference_coral_loss(model, views, batch.mask)
    inputs = [v for view in views for v in view.inputs.values()]
    _assert_same(batched, reference, model, inputs)


def test_coral_loss_draws_views_first_then_fuses(build, batch):
    model = build("coral")
    out = model.loss(batch, torch.Generator().manual_seed(5))
    views = model.draw_views(batch, torch.Generator().manual_seed(5))
    again = model.loss_of_views(views, batch.mask)
    for name, value in out.items():
        torch.testing.assert_close(value, again[name])
