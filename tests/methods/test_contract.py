"""The contract battery: every registered built-in method passes the same checks (timm-style).

The battery is `robustlab.testing.check_method`, the same public function a plugin author runs
on their own method; here it runs one rule per test so a failure names the method, the option
switch and the rule. A new built-in is tested the moment it is registered, on its default
options, without a line here; `SWITCHES` optionally adds the option switches that change what
it computes (each gets every model rule again).
"""

from __future__ import annotations

import pytest

from robustlab.methods import METHODS
from robustlab.methods.base import Method
from robustlab.methods.encoders import Mlp
from robustlab.methods.stacked import StackedMLP
from robustlab.testing import check_method
from robustlab.testing.method_case import ENCODER
from robustlab.testing.methods import CLASS_RULES, MODEL_RULES

from .conftest import SMALL

NAMES = METHODS.names(plugins=False)
# The behavioural checks run on every method's defaults and on the option switches that
# change what the loss or the scorer computes (ablations, negative schemes, extra views).
SWITCHES: dict[str, list[dict[str, object]]] = {
    "clip": [{"normalize": False}],
    "symile": [{"negatives": "n_squared"}, {"normalize": False}],
    "gated_symile": [{"num_negatives": 3}, {"neutral": "none"}, {"neutral": "ones"},
                     {"use_null": False}, {"gate_type": "softmax"}, {"mode": "matrix"},
                     {"mode": "matrix", "use_null": False}, {"hard_missing": True},
                     {"gate_type": "softmax", "hard_missing": True}],
    "comm": [{"pair_views": False}],  # the default (auto, unresolved) trains pair views
    "coral": [{"ortho_weight": 0.0}, {"pair_views": False}],
    "gram": [{"normalize": False}],
    "triangle": [{"squared": False}, {"normalize": False}, {"reference_bug_compat": True}],
}
VARIANTS = [(name, {}) for name in NAMES] + [
    (name, options) for name in NAMES for options in SWITCHES.get(name, [])
]


def variant_id(variant: tuple[str, dict[str, object]]) -> str:
    name, options = variant
    return "-".join([name, *(f"{k}={v}" for k, v in options.items())])


def test_registry_holds_the_seven_methods():
    assert NAMES == ["clip", "comm", "coral", "gated_symile", "gram", "symile", "triangle"]
    for name in NAMES:
        cls = METHODS.get(name)
        assert cls.name == name and cls.__module__ == f"robustlab.methods.{name}"


@pytest.mark.parametrize("rule", list(CLASS_RULES))
@pytest.mark.parametrize("name", NAMES)
def test_class_rule(name: str, rule: str) -> None:
    """Options validated field by field, unknown options suggested, a fair search space,
    dims validated: once per method, on its defaults."""
    check_method(METHODS.get(name), SMALL.get(name, {}), rules=[rule])


@pytest.mark.parametrize("rule", list(MODEL_RULES))
@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_model_rule(variant: tuple[str, dict[str, object]], rule: str) -> None:
    """Forward/backward, shapes, determinism, global RNG, checkpoints, missing rows and
    modalities, parameter groups, the shared encoder: per method and option switch."""
    name, options = variant
    check_method(METHODS.get(name), {**SMALL.get(name, {}), **options}, rules=[rule])


@pytest.mark.parametrize("name", NAMES)
def test_model_rules_with_stacked_encoders(name: str) -> None:
    """Modalities of one input width get one stacked encoder (issue 24): every model rule
    again on that storage, per method, on its defaults."""
    dims = {"a": 6, "b": 6, "c": 6}
    cls = METHODS.get(name)
    model = cls.build(cls.Options(**SMALL.get(name, {})), dims, ENCODER)
    assert isinstance(ENCODER, Mlp)
    assert any(isinstance(m, StackedMLP) for m in model.modules())  # the storage under test
    check_method(cls, SMALL.get(name, {}), dims=dims, rules=list(MODEL_RULES))


def test_method_base_is_abstract():
    with pytest.raises(TypeError):
        Method()  # type: ignore[abstract]
