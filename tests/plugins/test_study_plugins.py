"""Plugins through the study command (in-process, no Ray): a study file names a plugin's
registry key and gets the built-ins' validation; a broken plugin is exit 2 when the study
needs it and never breaks a study that does not; `--list` says where every name comes from;
the plan records the plugins it uses (manifest.json)."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from robustlab.registry import PluginWarning
from robustlab.study import load_plan
from robustlab.study.cli import main
from robustlab.study.plugins import plugins_used

from .conftest import FAILS_TO_IMPORT, GOOD_METHOD

OPERATOR = """
    from dataclasses import dataclass
    from perturbations.gaussian_noise import GaussianNoise

    @dataclass(frozen=True, kw_only=True)
    class Louder(GaussianNoise):
        pass
"""

STUDY: dict[str, Any] = {
    "name": "plugins",
    "data": {"kind": "synthetic_xnor", "n": 300, "bits": 4, "dim": 16},
    "methods": {"clip": {}},
    "encoder": {"kind": "mlp", "dim": 8, "depth": 2, "hidden": 8},
    "budget": {"trials": 2, "epochs": 1, "scheduler": "fifo"},
    "final": {"seeds": [0]},
    "eval_grid": [{"op": "missing", "modality": "b", "fraction": 0.5}],
}


def write(tmp_path: Path, **changes: Any) -> Path:
    study = copy.deepcopy(STUDY) | changes
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def good(site) -> Any:
    site.add("good-plugin", "0.3.1", {
        "robustlab.methods": {"mine": "{pkg}.method:Mine"},
        "robustlab.perturbations": {"louder": "{pkg}.ops:Louder"}},
        {"method": GOOD_METHOD, "ops": OPERATOR})
    return site


@pytest.fixture
def broken(site) -> Any:
    site.add("broken-plugin", "2.0", {"robustlab.methods": {"wrecked": "{pkg}.method:Mine"}},
             {"method": FAILS_TO_IMPORT})
    return site


def test_a_study_uses_a_plugin_method_and_operator_by_their_keys(good, tmp_path, capsys):
    grid = [{"op": "louder", "modality": "c", "severity": [1, 2]}]
    path = write(tmp_path, methods={"clip": {}, "mine": {}, "mine_raw": {"method": "mine",
                                                                          "normalize": False}},
                 eval_grid=grid)
    code, out, err = run(capsys, str(path), "--dry-run")
    assert code == 0, err
    assert "mine_raw: mine ClipOptions(normalize=False" in out
    assert "louder(c, severity=2, fraction=1.0)" in out
    assert "plugins: mine (methods) from good-plugin 0.3.1; louder (perturbations)" in out
    plan = load_plan(path)
    assert plugins_used(plan) == [
        {"kind": "methods", "name": "mine", "distribution": "good-plugin", "version": "0.3.1",
         "entry_point": f"mine = {good.pkg}.method:Mine"},
        {"kind": "perturbations", "name": "louder", "distribution": "good-plugin",
         "version": "0.3.1", "entry_point": f"louder = {good.pkg}.ops:Louder"}]
    variant = next(v for v in plan.variants if v.name == "mine")
    assert set(variant.space.free) == {"lr", "weight_decay", "logit_scale_init"}


def test_plugin_options_get_the_same_strict_validation(good, tmp_path, capsys):
    path = write(tmp_path, methods={"mine": {"normalise": True}})
    code, _, err = run(capsys, str(path), "--dry-run")
    assert code == 2
    assert "methods.mine.normalise: unknown option of ClipOptions; did you mean 'normalize'" in err
    path = write(tmp_path, methods={"x": {"method": "mien"}})
    code, _, err = run(capsys, str(path), "--dry-run")
    assert code == 2 and "methods.x.method: unknown method 'mien'; did you mean 'mine'" in err


def test_a_study_needing_a_broken_plugin_exits_2_naming_it(broken, tmp_path, capsys):
    out_dir = tmp_path / "out"
    path = write(tmp_path, methods={"clip": {}, "w": {"method": "wrecked"}})
    code, _, err = run(capsys, str(path), "--out", str(out_dir))
    assert code == 2
    assert "methods.w.method: method 'wrecked': entry point 'wrecked = " in err
    assert "of distribution broken-plugin 2.0 failed to import: ModuleNotFoundError" in err
    assert not out_dir.exists()  # nothing written


def test_a_broken_plugin_never_breaks_a_study_that_does_not_use_it(broken, tmp_path, capsys):
    path = write(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a warning: nothing imported it
        code, _, err = run(capsys, str(path), "--dry-run")
    assert code == 0, err
    # a top-level `search:` key is checked against every method's space: the broken plugin
    # is then a warning, and the study goes on
    path = write(tmp_path, search={"lr": {"low": 1e-4, "high": 1e-3}})
    with pytest.warns(PluginWarning, match="broken-plugin 2.0 failed to import"):
        code, _, err = run(capsys, str(path), "--dry-run")
    assert code == 0, err


def test_list_names_every_component_and_its_origin(good, capsys):
    code, out, err = run(capsys, "--list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "methods (plugins: entry-point group robustlab.methods):"
    assert any(line.split() == ["clip", "built-in", "(robustlab.methods.clip:Clip)"]
               for line in lines)
    assert any(line.split() == ["mine", "plugin", "good-plugin", "0.3.1",
                                f"({good.pkg}.method:Mine)"] for line in lines)
    for kind in ("datasets", "encoders", "perturbations"):
        assert any(line.startswith(f"{kind} (plugins: entry-point group") for line in lines)
    assert any(line.split()[:3] == ["louder", "plugin", "good-plugin"] for line in lines)


def test_list_shows_a_broken_plugin_and_exits_2(broken, capsys):
    code, out, err = run(capsys, "--list")
    assert code == 2 and "1 registered name(s) cannot be used" in err
    at = out.splitlines().index(next(line for line in out.splitlines()
                                     if line.split()[:1] == ["wrecked"]))
    assert "ERROR: method 'wrecked'" in out.splitlines()[at + 1]
    assert "broken-plugin 2.0 failed to import" in out.splitlines()[at + 1]


def test_the_study_file_is_required_without_list(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 2
    assert "the study file is required (or --list)" in capsys.readouterr().err
