"""Plugin discovery through entry points: lazy loading, origins, and a clear error for each
kind of bad plugin (import error, name collision, options without defaults, missing abstract
method, wrong kind, name mismatch). Distributions are real dist-info folders on sys.path."""

from __future__ import annotations

import sys
import warnings

import pytest

from perturbations import OPERATORS
from robustlab.data import DATASETS
from robustlab.methods import ENCODERS, METHODS
from robustlab.registry import PluginError, PluginWarning, Registry, RegistryError

from .conftest import ABSTRACT, FAILS_TO_IMPORT, GOOD_METHOD, NO_DEFAULTS

M = "robustlab.methods"


def test_a_plugin_is_listed_without_import_and_imported_on_first_lookup(site) -> None:
    site.add("good-plugin", "0.3.1", {M: {"mine": "{pkg}.method:Mine"}},
             {"method": GOOD_METHOD})
    assert "mine" in METHODS and "mine" in METHODS.names()
    assert "mine" not in METHODS.names(plugins=False)
    assert f"{site.pkg}.method" not in sys.modules  # lazy: names come from metadata only
    cls = METHODS.get("mine")
    assert f"{site.pkg}.method" in sys.modules
    assert cls.__name__ == "Mine" and cls.name == "mine"  # named by its entry point
    assert METHODS.get("clip").name == "clip"  # the built-in parent keeps its own name
    origin = METHODS.origin("mine")
    assert (origin.distribution, origin.version, origin.value) == (
        "good-plugin", "0.3.1", f"{site.pkg}.method:Mine")
    assert METHODS.origin("clip").builtin


def test_unknown_names_suggest_plugins_too(site) -> None:
    site.add("good-plugin", "1.0", {M: {"pairwise_temp": "{pkg}.method:Mine"}},
             {"method": GOOD_METHOD})
    with pytest.raises(RegistryError, match=r"did you mean 'pairwise_temp'") as err:
        METHODS.get("pairwise_tmp")
    assert "clip" in str(err.value) and "pairwise_temp" in str(err.value)  # the valid list


def test_a_plugin_that_fails_to_import_names_entry_point_and_distribution(site) -> None:
    site.add("broken-plugin", "2.0", {M: {"mine": "{pkg}.method:Mine"}},
             {"method": FAILS_TO_IMPORT})
    assert "mine" in METHODS  # discovered; nothing imported yet, nothing raised
    with pytest.raises(PluginError) as err:
        METHODS.get("mine")
    message = str(err.value)
    assert f"entry point 'mine = {site.pkg}.method:Mine'" in message
    assert "broken-plugin 2.0" in message and "failed to import" in message
    assert "No module named 'robustlab_no_such_dependency'" in message
    with pytest.raises(PluginError):  # the failure is remembered, not retried
        METHODS.get("mine")
    assert METHODS.get("symile").name == "symile"  # unrelated names are untouched


def test_a_name_claimed_by_a_plugin_and_a_built_in_is_an_error_naming_both(site) -> None:
    with pytest.warns(PluginWarning, match="'clip' is claimed 2 times"):
        site.add("evil-plugin", "0.1", {M: {"clip": "{pkg}.method:Mine"}},
                 {"method": GOOD_METHOD})
        METHODS.names()
    with pytest.raises(PluginError) as err:
        METHODS.get("clip")
    message = str(err.value)
    assert "the built-in robustlab.methods.clip:Clip" in message
    assert f"entry point 'clip = {site.pkg}.method:Mine' of distribution evil-plugin 0.1" in \
        message
    assert f"{site.pkg}.method" not in sys.modules  # a collision imports neither
    assert METHODS.get("symile").name == "symile"


def test_a_name_claimed_by_two_plugins_is_an_error_naming_both(site) -> None:
    site.add("first-plugin", "1.0", {M: {"mine": "{pkg}.method:Mine"}},
             {"method": GOOD_METHOD})
    with pytest.warns(PluginWarning, match="'mine' is claimed 2 times"):
        site.add("second-plugin", "2.0", {M: {"mine": "{pkg}.other:Mine"}},
                 {"other": GOOD_METHOD})
        METHODS.names()
    with pytest.raises(PluginError, match=r"first-plugin 1\.0 and .*second-plugin 2\.0|"
                                          r"second-plugin 2\.0 and .*first-plugin 1\.0"):
        METHODS.get("mine")


@pytest.mark.parametrize(("source", "expected"), [
    (NO_DEFAULTS, r"Mine\.Options \(NeedsAlpha\) has no default for alpha"),
    (ABSTRACT, r"Mine does not implement the abstract method\(s\) score of Method"),
    ("class Mine:\n    pass\n", r"is not a subclass of robustlab\.methods\.Method"),
    (GOOD_METHOD + "        name = 'other'\n", r"Mine\.name is 'other' but its entry point is "
                                               r"'mine'"),
], ids=["options-without-defaults", "missing-abstract-method", "not-a-method", "name-mismatch"])
def test_an_invalid_method_plugin_is_an_error_saying_why(site, source, expected) -> None:
    site.add("bad-plugin", "0.9", {M: {"mine": "{pkg}.method:Mine"}}, {"method": source})
    with pytest.raises(PluginError, match=expected) as err:
        METHODS.get("mine")
    assert "bad-plugin 0.9" in str(err.value) and "is not a valid method" in str(err.value)


DATASET = """
    from dataclasses import dataclass
    from robustlab.data import DatasetOptions
    from robustlab.data.symile_xor import SymileXor

    @dataclass(frozen=True)
    class Mine(SymileXor):
        pass

    @dataclass
    class Thawed(DatasetOptions):
        n: int = 10

        def build(self, seed):
            return SymileXor(n=self.n).build(seed)
"""
ENCODER = """
    from dataclasses import dataclass
    from robustlab.methods.encoders import Mlp

    @dataclass(frozen=True)
    class Wide(Mlp):
        hidden: int = 512

    @dataclass(frozen=True)
    class NoDim:
        depth: int = 2
        def build(self, in_dim): ...
"""
OPERATOR = """
    from dataclasses import dataclass
    from typing import ClassVar
    from perturbations.base import ModalityOperator
    from perturbations.gaussian_noise import GaussianNoise

    @dataclass(frozen=True, kw_only=True)
    class Louder(GaussianNoise):
        severities: ClassVar[dict[int, float]] = {1: 0.5, 2: 1.0, 3: 2.0, 4: 4.0, 5: 8.0}

    @dataclass(frozen=True, kw_only=True)
    class Lazy(ModalityOperator):
        pass
"""


def test_datasets_encoders_and_operators_come_from_their_groups(site) -> None:
    site.add("kinds-plugin", "1.0", {
        "robustlab.datasets": {"xor_copy": "{pkg}.data:Mine", "thawed": "{pkg}.data:Thawed"},
        "robustlab.encoders": {"wide_mlp": "{pkg}.enc:Wide", "no_dim": "{pkg}.enc:NoDim"},
        "robustlab.perturbations": {"louder": "{pkg}.ops:Louder", "lazy": "{pkg}.ops:Lazy"},
    }, {"data": DATASET, "enc": ENCODER, "ops": OPERATOR})
    assert DATASETS.get("xor_copy")(n=50, d=2).build(0).split("train").features["a"].size
    assert ENCODERS.get("wide_mlp")(dim=4).hidden == 512
    louder = OPERATORS.get("louder")
    assert louder.name == "louder"  # provenance and condition ids use the entry point's name
    assert louder(modality="b", severity=2).describe().startswith("louder(b, severity=2")
    with pytest.raises(PluginError, match=r"Thawed must be a frozen dataclass"):
        DATASETS.get("thawed")
    with pytest.raises(PluginError, match=r"NoDim has no field 'dim'"):
        ENCODERS.get("no_dim")
    with pytest.raises(PluginError, match=r"Lazy does not implement the abstract method\(s\) "
                                          r"perturb_rows"):
        OPERATORS.get("lazy")


def test_items_skips_unusable_plugins_with_a_warning(site) -> None:
    site.add("broken-plugin", "2.0", {M: {"mine": "{pkg}.method:Mine"}},
             {"method": FAILS_TO_IMPORT})
    with pytest.warns(PluginWarning, match="broken-plugin 2.0"):
        names = [name for name, _ in METHODS.items()]
    assert "mine" not in names and {"clip", "symile"} <= set(names)


def test_refresh_forgets_a_removed_distribution(site) -> None:
    site.add("good-plugin", "1.0", {M: {"mine": "{pkg}.method:Mine"}}, {"method": GOOD_METHOD})
    assert METHODS.get("mine").name == "mine"
    for info in site.root.glob("*.dist-info"):
        for f in info.iterdir():
            f.unlink()
        info.rmdir()
    METHODS.refresh()
    assert "mine" not in METHODS


def test_a_plugin_module_that_registers_itself_is_still_a_plugin(site) -> None:
    source = GOOD_METHOD.replace("class Mine(Clip):", "from robustlab.methods.base import "
                                 "register\n\n    @register('mine')\n    class Mine(Clip):")
    site.add("decorated-plugin", "1.0", {M: {"mine": "{pkg}.method:Mine"}}, {"method": source})
    assert METHODS.get("mine").name == "mine"
    assert METHODS.origin("mine").distribution == "decorated-plugin"
    assert "mine" not in METHODS.names(plugins=False)


def test_a_registry_without_group_has_only_built_ins() -> None:
    reg: Registry[int] = Registry("widget")
    reg.register("alpha")(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reg.names() == ["alpha"] and reg.origin("alpha").builtin
