"""`check_method` itself: every rule fails on a method broken in exactly that way, naming the
rule, and passes on the built-in it was broken from (both outcomes, one test per rule)."""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from robustlab.methods.base import Method, seeded
from robustlab.methods.clip import Clip, ClipOptions
from robustlab.search_space import FloatRange
from robustlab.testing import METHOD_RULES, ContractError, check_method


@dataclass(frozen=True)
class LaxOptions(ClipOptions):
    def __post_init__(self) -> None:  # validates nothing
        pass


@dataclass
class ThawedOptions:
    normalize: bool = True
    logit_scale_init: float = 2.0


class NotFrozen(Clip):
    Options = ThawedOptions  # type: ignore[assignment]


class Lax(Clip):
    Options = LaxOptions


class TakesDicts(Clip):
    @classmethod
    def build(cls, options: Any, dims: Any, encoder: Any, *, seed: int = 0) -> Method:
        options = cls.Options(**options) if isinstance(options, dict) else options
        return super().build(options, dims, encoder, seed=seed)


class OwnLr(Clip):
    @classmethod
    def search_space(cls) -> dict[str, Any]:
        return {**super().search_space(), "lr": FloatRange(1e-5, 1e-1, log=True)}


class NoDimsCheck(Clip):
    @classmethod
    def build(cls, options: Any, dims: Any, encoder: Any, *, seed: int = 0) -> Method:
        with seeded(seed):
            return cls(options, dims, encoder)


class AttachedTerm(Clip):
    def loss(self, batch: Any, generator: Any = None) -> dict[str, torch.Tensor]:
        out = super().loss(batch, generator)
        return out | {"again": out["loss"] * 1.0}  # a logged term that keeps the graph


class Transposed(Clip):
    def score(self, target: str, query: Any, candidates: torch.Tensor) -> torch.Tensor:
        return super().score(target, query, candidates).T  # (C, B)


class NanFeatures(Clip):
    def features(self, batch: Any) -> torch.Tensor:
        return super().features(batch) * torch.nan


class Unseeded(Clip):
    def loss(self, batch: Any, generator: Any = None) -> dict[str, torch.Tensor]:
        out = super().loss(batch, generator)
        noise = int.from_bytes(os.urandom(4), "little") / 2**32
        return out | {"loss": out["loss"] + noise}  # fresh entropy, not from `generator`


class GlobalRng(Clip):
    def loss(self, batch: Any, generator: Any = None) -> dict[str, torch.Tensor]:
        out = super().loss(batch, generator)
        return out | {"loss": out["loss"] + 0.0 * torch.rand(())}  # draws from the global RNG


class NotInStateDict(Clip):
    def __init__(self, options: Any, dims: Any, encoder: Any) -> None:
        super().__init__(options, dims, encoder)
        self.offset = torch.randn(())  # a plain attribute: checkpoints do not carry it

    def score(self, target: str, query: Any, candidates: torch.Tensor) -> torch.Tensor:
        return super().score(target, query, candidates) + self.offset

    def features(self, batch: Any) -> torch.Tensor:
        return super().features(batch) + self.offset


class IgnoresMask(Clip):
    def encode(self, modality: str, x: torch.Tensor, mask: Any = None, **kw: Any) -> torch.Tensor:
        return super().encode(modality, x, None, **kw)


class DividesByPresent(Clip):
    def loss(self, batch: Any, generator: Any = None) -> dict[str, torch.Tensor]:
        out = super().loss(batch, generator)
        present = batch.mask["b"].float().sum()
        return out | {"loss": out["loss"] + 0.0 * present / present}  # 0/0 when b is all gone


class DecaysEverything(Clip):
    def param_groups(self, lr: float, weight_decay: float) -> list[dict[str, Any]]:
        return [{"params": list(self.parameters()), "lr": lr, "weight_decay": weight_decay}]


class WiderBackbone(Clip):
    def __init__(self, options: Any, dims: Any, encoder: Any) -> None:
        super().__init__(options, dims, dataclasses.replace(encoder, hidden=encoder.hidden * 2))


BROKEN: dict[str, tuple[type, str]] = {
    "interface": (NotFrozen, "NotFrozen.Options must be a frozen dataclass"),
    "options_validated": (Lax, "LaxOptions.normalize accepted the bad value 'yes'"),
    "unknown_option": (TakesDicts, "build accepted a dict instead of an Options instance"),
    "search_space": (OwnLr, "'lr' must be searched over FloatRange(low=0.0001"),
    "build_validates_dims": (NoDimsCheck, "unclear error: Mlp.build: in_dim must be a positive"),
    "loss": (AttachedTerm, "term 'again' must be detached"),
    "retrieval_shapes": (Transposed, "scores shape (5, 8), want (8, 5)"),
    "features_shapes": (NanFeatures, "features has non-finite values"),
    "deterministic": (Unseeded, "same seeds, different losses"),
    "global_rng": (GlobalRng, "the global torch RNG was used"),
    "checkpoint": (NotInStateDict, "scores differ after a checkpoint round trip"),
    "missing_rows": (IgnoresMask, "scores depend on the values of missing context rows"),
    "missing_modality": (DividesByPresent, "the loss with b missing everywhere has non-finite"),
    "param_groups": (DecaysEverything, "a group with vectors/scalars is weight-decayed"),
    "shared_encoder": (WiderBackbone, "!= the encoder's"),
}


def test_every_rule_has_a_broken_method() -> None:
    assert list(BROKEN) == METHOD_RULES


@pytest.mark.parametrize("rule", METHOD_RULES)
def test_the_rule_passes_on_the_built_in(rule: str) -> None:
    check_method(Clip, rules=[rule])


@pytest.mark.parametrize("rule", METHOD_RULES)
def test_the_rule_fails_on_a_method_broken_that_way(rule: str) -> None:
    broken, message = BROKEN[rule]
    with pytest.raises(ContractError) as err:
        check_method(broken, rules=[rule])
    assert err.value.rules == [rule]
    assert message in err.value.failures[rule], err.value.failures[rule]
    assert f"method {broken.__name__} breaks 1 rule(s)" in str(err.value)
    assert f"[{rule}] " in str(err.value)


def test_the_broken_method_breaks_nothing_else() -> None:
    """Each broken method differs from CLIP in one way: the whole battery names only the
    rules that way breaks (some breaks are seen by more than one rule)."""
    also = {"interface": {"options_validated", "unknown_option", "search_space", *[
        r for r in METHOD_RULES[5:]], "build_validates_dims"},
        # fresh entropy in the loss: two loss calls never agree, whatever they compare
        "deterministic": {"checkpoint", "missing_rows"},
        "missing_rows": {"loss"},  # the unused "missing" embeddings get no gradient
        "build_validates_dims": {"unknown_option"},  # its build skips Method.build's checks
        "features_shapes": {"checkpoint", "missing_rows"}}  # NaN never equals itself
    wrong = {}
    for rule, (broken, _) in BROKEN.items():
        with pytest.raises(ContractError) as err:
            check_method(broken)
        if rule not in err.value.rules or set(err.value.rules) - {rule} - also.get(rule, set()):
            wrong[rule] = err.value.rules
    assert not wrong


def test_switches_are_reported_with_their_options() -> None:
    with pytest.raises(ContractError) as err:
        check_method(Transposed, switches=[{"normalize": False}], rules=["retrieval_shapes"])
    assert err.value.rules == ["retrieval_shapes", "retrieval_shapes[normalize=False]"]


def test_an_option_type_without_a_bad_value_asks_for_one() -> None:
    @dataclass(frozen=True)
    class Named(ClipOptions):
        label: str = "x"

        def __post_init__(self) -> None:
            super().__post_init__()
            if not isinstance(self.label, str) or not self.label:
                raise ValueError(f"Named.label: must be a non-empty str, got {self.label!r}")

    class Labelled(Clip):
        Options = Named

    with pytest.raises(ContractError, match=re.escape("pass one in bad_options")):
        check_method(Labelled, rules=["options_validated"])
    check_method(Labelled, bad_options={"label": ""}, rules=["options_validated"])


def test_unknown_rule_names_are_an_error() -> None:
    with pytest.raises(ValueError, match=r"unknown method rule\(s\) \['los'\]"):
        check_method(Clip, rules=["los"])


def test_the_batteries_do_not_import_pytest() -> None:
    import subprocess

    code = ("import sys; import robustlab.testing; "
            "print('pytest' in sys.modules, '_pytest' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert issubclass(ContractError, AssertionError)
