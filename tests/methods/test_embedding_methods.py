"""CLIP, Symile and Gated Symile: the method wires the core math as DESIGN §4 says."""

from __future__ import annotations

import math

import pytest
import torch

from robustlab.core import clip_loss, gated_symile_loss, symile_anchor_losses, symile_loss
from robustlab.methods import METHODS
from robustlab.methods.common import LogitScale
from robustlab.methods.encoders import Mlp


def _embeddings(model, batch):
    with torch.no_grad():
        return model.embed_batch(batch)


# ---------------------------------------------------------------- CLIP


def test_clip_loss_is_the_mean_pairwise_infonce(build, batch):
    model = build("clip")
    out = model.loss(batch)
    expected = clip_loss(_embeddings(model, batch), model.logit_scale())
    torch.testing.assert_close(out["loss"].detach(), expected.detach())
    assert set(out) == {"loss", "pair_a_b", "pair_a_c", "pair_b_c"}


def test_clip_score_is_the_sum_of_pairwise_dots(build, batch):
    model = build("clip").eval()
    with torch.no_grad():
        q = model.encode_query(batch, "b")
        cands = model.encode_candidates("b", batch.x["b"])
        scores = model.score("b", q, cands)
    expected = q["a"] @ cands.T + q["c"] @ cands.T
    torch.testing.assert_close(scores, expected)


# ---------------------------------------------------------------- Symile


@pytest.mark.parametrize("negatives", ["n", "n_squared"])
def test_symile_loss_wires_core(negatives, build, batch):
    model = build("symile", negatives=negatives)
    out = model.loss(batch, torch.Generator().manual_seed(4))
    expected = symile_loss(_embeddings(model, batch), model.logit_scale(), negatives,
                           generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(out["loss"].detach(), expected.detach())
    anchors = [out[f"anchor_{m}"] for m in "abc"]
    assert set(out) == {"loss", "anchor_a", "anchor_b", "anchor_c"}
    assert not any(t.requires_grad for t in anchors)  # logged terms carry no graph
    torch.testing.assert_close(torch.stack(anchors).mean(), expected.detach())


def test_symile_n_samples_negatives_and_n_squared_does_not(build, batch):
    model = build("symile", negatives="n")
    losses = {model.loss(batch, torch.Generator().manual_seed(s))["loss"].item() for s in range(3)}
    assert len(losses) == 3  # the permutations come from the generator
    model = build("symile", negatives="n_squared")
    losses = {model.loss(batch, torch.Generator().manual_seed(s))["loss"].item() for s in range(3)}
    assert len(losses) == 1  # all N² negatives: nothing is sampled


def test_symile_memory_budget_reaches_the_core_and_changes_no_result(build, batch, monkeypatch):
    seen = []

    def spy(*args, **kwargs):
        seen.append((kwargs["memory_budget"], kwargs["chunk_size"]))
        return symile_anchor_losses(*args, **kwargs)

    monkeypatch.setattr("robustlab.methods.symile.symile_anchor_losses", spy)
    runs = []
    for mib in (128.0, 1e-4):  # every logit kept / one row per block, all recomputed
        model = build("symile", negatives="n_squared", memory_budget_mib=mib)
        loss = model.loss(batch, torch.Generator().manual_seed(0))["loss"]
        loss.backward()
        runs.append((loss.detach(), [p.grad for p in model.parameters() if p.grad is not None]))
    assert seen == [(128 * 2**20, None), (104, None)]
    torch.testing.assert_close(runs[0][0], runs[1][0])
    for kept, recomputed in zip(runs[0][1], runs[1][1], strict=True):
        torch.testing.assert_close(kept, recomputed)


def test_symile_score_is_the_mip(build, batch):
    model = build("symile").eval()
    with torch.no_grad():
        q = model.encode_query(batch, "a")
        cands = model.encode_candidates("a", batch.x["a"])
        scores = model.score("a", q, cands)
    expected = torch.einsum("bd,bd,cd->bc", q["b"], q["c"], cands)
    torch.testing.assert_close(scores, expected)


@pytest.mark.parametrize("normalize", [True, False])
def test_normalize_option(normalize, build, batch):
    model = build("symile", normalize=normalize)
    norms = torch.linalg.vector_norm(_embeddings(model, batch)[0], dim=1)
    assert torch.allclose(norms, torch.ones_like(norms)) == normalize


def test_logit_scale_clamped_at_100():
    scale = LogitScale(math.log(1000.0))
    value = scale()
    value.backward()
    assert value.item() == pytest.approx(100.0)
    assert float(scale.log_scale.grad) == 0.0  # clamped: no push further up
    assert LogitScale(1.0)().item() == pytest.approx(math.e)


# ---------------------------------------------------------------- Gated Symile


def test_gated_param_groups_give_the_gate_its_lr_and_no_decay(build):
    model = build("gated_symile", gate_lr_mult=5.0)
    groups = model.param_groups(lr=1e-3, weight_decay=0.1)
    gate_ids = {id(p) for p in model.gate.parameters() if p.requires_grad}
    gate_groups = [g for g in groups if {id(p) for p in g["params"]} & gate_ids]
    assert len(gate_groups) == 1
    (gate_group,) = gate_groups
    assert {id(p) for p in gate_group["params"]} == gate_ids
    assert gate_group["lr"] == pytest.approx(5e-3) and gate_group["weight_decay"] == 0.0
    others = [g for g in groups if g is not gate_group]
    assert all(g["lr"] == pytest.approx(1e-3) for g in others)
    assert any(g["weight_decay"] == 0.1 for g in others)  # encoder matrices still decay


def test_gate_starts_as_the_reference_configs_do():
    """The defaults are the reference's `config/modelname/*.yaml` (gate_temp 0.7,
    gate_strength_init -3, gate_d_k 256), not its gate class's (1.0, -6)."""
    cls = METHODS.get("gated_symile")
    options = cls.Options()
    assert (options.gate_temp_init, options.gate_strength_init, options.key_dim) == (
        0.7, -3.0, 256)
    gate = cls.build(options, {"a": 3, "b": 3, "c": 3}, Mlp(dim=8)).gate
    assert gate.key_dim == 256
    assert float(gate.strength.detach()) == pytest.approx(-3.0)
    assert float(gate.log_temp.detach()) == pytest.approx(math.log(0.7))


@pytest.mark.parametrize(("option", "value", "read"), [
    ("gate_temp_init", 0.3, lambda gate: math.exp(float(gate.log_temp.detach()))),
    ("gate_strength_init", 1.5, lambda gate: float(gate.strength.detach())),
])
def test_gate_initialisation_options_reach_the_gate(option, value, read, build, batch):
    default, changed = build("gated_symile"), build("gated_symile", **{option: value})
    assert read(changed.gate) == pytest.approx(value)
    assert read(default.gate) != pytest.approx(value)
    g = torch.Generator
    assert not torch.equal(changed.loss(batch, g().manual_seed(0))["loss"],
                           default.loss(batch, g().manual_seed(0))["loss"])


@pytest.mark.parametrize(
    ("option", "value", "attribute"),
    [("neutral", "ones", "neutral"), ("use_null", False, "use_null"),
     ("gate_type", "softmax", "gate_type"), ("mode", "matrix", "mode"),
     ("hard_missing", True, "hard_missing"), ("key_dim", 4, "key_dim")],
)
def test_ablation_switches_reach_the_gate(option, value, attribute, build, batch):
    model = build("gated_symile", **{option: value})
    assert getattr(model.gate, attribute) == value
    out = model.loss(batch, torch.Generator().manual_seed(0))
    assert torch.isfinite(out["loss"])


@pytest.mark.parametrize(("option", "value"), [
    ("neutral", "ones"), ("neutral", "none"), ("use_null", False),
    ("gate_type", "softmax"), ("mode", "matrix"), ("hard_missing", True),
])
def test_ablation_switches_change_the_scores(option, value, build, batch):
    """Same trainable weights wherever both models have them, one switch flipped: the
    retrieval scores must change (a switch the scorer ignored would leave them equal).
    (`neutral: frozen` starts where `learned` does and differs only in training: the core
    tests check that its direction is no parameter.)"""
    default, ablated = build("gated_symile"), build("gated_symile", **{option: value})
    mine = dict(ablated.named_parameters())
    shared = {k: v for k, v in default.state_dict().items()
              if k in mine and mine[k].shape == v.shape}
    ablated.load_state_dict(shared, strict=False)
    # target a: the context b, c is missing on rows 1, 2, 3 and 7 (for hard_missing)
    s_default, s_ablated = (_strong_gate_scores(m, batch) for m in (default, ablated))
    assert not torch.allclose(s_default, s_ablated, atol=1e-5)


def _strong_gate_scores(model, batch):
    """Retrieval scores for target a with the gate strength raised so the gate matters
    (its initial strength is tiny)."""
    with torch.no_grad():
        model.gate.strength.fill_(2.0)
        model.eval()
        return model.score("a", model.encode_query(batch, "a"),
                           model.encode_candidates("a", batch.x["a"]))


def test_hard_missing_uses_the_query_masks(build, make_batch):
    """With hard_missing the gate sees the context masks through the query: scores change
    only on rows whose context has a missing modality."""
    batch = make_batch(5, missing={"b": [0, 1, 2]})
    soft, hard = build("gated_symile"), build("gated_symile", hard_missing=True)
    hard.load_state_dict(soft.state_dict())
    s_soft, s_hard = (_strong_gate_scores(m, batch) for m in (soft, hard))
    torch.testing.assert_close(s_soft[3:], s_hard[3:])
    assert not torch.allclose(s_soft[:3], s_hard[:3])


def test_gated_sampled_negatives_come_from_the_generator(build, batch):
    model = build("gated_symile", num_negatives=3)
    losses = [model.loss(batch, torch.Generator().manual_seed(s))["loss"].item() for s in (0, 0, 1)]
    assert losses[0] == losses[1] != losses[2]


@pytest.mark.parametrize("num_negatives", [None, 3])
def test_gated_loss_wires_core_with_one_term_per_target(num_negatives, build, batch):
    model = build("gated_symile", num_negatives=num_negatives)
    out = model.loss(batch, torch.Generator().manual_seed(2))
    expected = gated_symile_loss(model.gate, _embeddings(model, batch), model.logit_scale(),
                                 num_negatives=num_negatives,
                                 generator=torch.Generator().manual_seed(2),
                                 masks=[batch.mask[m] for m in "abc"])
    torch.testing.assert_close(out["loss"].detach(), expected.detach())
    assert set(out) == {"loss", "target_a", "target_b", "target_c"}
    targets = torch.stack([out[f"target_{m}"] for m in "abc"])
    assert not targets.requires_grad and len(set(targets.tolist())) == 3
    torch.testing.assert_close(targets.mean(), expected.detach())
