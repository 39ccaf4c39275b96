"""Strict study files: every bad input is exit status 2, a message naming the file and the YAML
path (with the closest valid name), and nothing written. Runs the CLI in-process (no Ray)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from robustlab.study.cli import main

_DELETE = object()


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _with(base: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    study = copy.deepcopy(base)
    for dotted, value in change.items():
        *parents, last = dotted.split(".")
        node: Any = study
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return study

BAD_FILES = [
    ({"budgett": {"trials": 2}}, ["budgett", "did you mean 'budget'"]),
    ({"budget.trails": 3}, ["budget.trails", "did you mean 'trials'"]),
    ({"methods.clip": {"method": "clipp"}}, ["methods.clip.method", "did you mean 'clip'"]),
    ({"methods.symil": {}}, ["methods.symil", "did you mean 'symile'"]),
    ({"methods.symile": {"negatives": "n", "normalise": True}},
     ["methods.symile.normalise", "did you mean 'normalize'"]),
    ({"methods.symile": {"negatives": "n3"}}, ["methods.symile", "negatives"]),
    ({"data.kind": "synthetic_xnr"}, ["data.kind", "did you mean 'synthetic_xnor'"]),
    ({"data.corruption": 2.0}, ["data", "corruption"]),
    ({"data.n_samples": 10}, ["data.n_samples", "unknown option"]),
    ({"encoder.kind": "mpl"}, ["encoder.kind", "did you mean 'mlp'"]),
    ({"eval_grid.0.op": "misssing"}, ["eval_grid.0.op", "did you mean 'missing'"]),
    ({"eval_grid.0.modality": ["d"]}, ["eval_grid.0.modality", "unknown modality 'd'"]),
    ({"eval_grid.1.severity": [9]}, ["eval_grid.1", "severity"]),
    ({"eval_grid.0.fraction": [1.5]}, ["eval_grid.0", "fraction"]),
    ({"eval_grid.0.fractoin": [0.5]}, ["eval_grid.0.fractoin", "did you mean 'fraction'"]),
    ({"task.target": "z"}, ["task.target", "unknown modality 'z'"]),
    ({"budget.trials": 0}, ["budget.trials", "greater than or equal to 1"]),
    ({"budget.trials": "many"}, ["budget.trials", "valid integer"]),
    ({"budget": [1, 2]}, ["budget", "valid dictionary"]),
    ({"budget.scheduler": "hyperband"}, ["budget.scheduler", "asha"]),
    ({"budget.metric": "val_balanced_accuracy"}, ["budget.metric", "val_top1"]),
    ({"final.seeds": [1, 1]}, ["final.seeds", "distinct"]),
    ({"resources.cpu": -1}, ["resources.cpu", "greater than 0"]),
    ({"train.epochs": 3}, ["train.epochs", "budget.epochs"]),
    ({"train.lr": -1.0}, ["train", "lr"]),
    ({"methods.clip": {"search": {"lr": 10.0}}}, ["methods.clip.search.lr", "declared range"]),
    ({"methods.clip": {"search": {"l_r": 0.001}}},
     ["methods.clip.search.l_r", "did you mean 'lr'"]),
    ({"search": {"gate_lr_mul": 2.0}}, ["search.gate_lr_mul", "in no method's search space"]),
    ({"name": _DELETE}, ["name", "Field required"]),
    ({"report": {"slices": ["perturbed_modality", "corupted_modality"]}},
     ["report.slices.1", "unknown slice column 'corupted_modality'",
      "did you mean 'corrupted_modality'"]),
    ({"report": {"slices": [{"column": "corrupted_modality", "bins": 4}]}},
     ["report.slices.0.bins", "'corrupted_modality' is not numeric"]),
    ({"report": {"slices": [{"column": "severity", "bin": 4}]}},
     ["report.slices.0.bin", "did you mean 'bins'", "valid: column, bins"]),
    ({"report": {"slices": [{"column": "severity", "bins": 50}]}},
     ["report.slices.0.bins", "less than or equal to 20"]),
    ({"report": {"slices": [["severity"]]}},
     ["report.slices.0", "must be a column name or {column: NAME, bins: K}"]),
    ({"data": {"kind": "symile_xor", "d": 2, "n": 600}, "task.target": "b"},
     ["eval_grid", "'missing", "retrieval target 'b'", "fixed bank", "perturb a or c"]),
    ({"task.match": "label"},
     ["task.match", "'label' needs a dataset with labels", "'synthetic_xnor' has none"]),
    ({"task.match": "class"}, ["task.match", "'item' or 'label'"]),
    ({"task.match": "label", "task.protocol": "probe", "budget.metric": "val_balanced_accuracy"},
     ["task.match", "'label' is a retrieval option"]),
]


@pytest.mark.parametrize(("change", "expected"), BAD_FILES,
                         ids=[f"{next(iter(c))}-{i}" for i, (c, _) in enumerate(BAD_FILES)])
def test_bad_study_file_exits_2_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny: dict[str, Any], writer: Any,
    change: dict[str, Any], expected: list[str],
) -> None:
    path = writer(tmp_path, _with(tiny, change))
    out = tmp_path / "out"
    code, _, err = _cli(capsys, str(path), "--out", str(out))
    assert code == 2, err
    assert str(path) in err
    for fragment in expected:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert not out.exists(), "a validation error must write nothing"


@pytest.mark.parametrize(("assignment", "expected"), [
    ("budget.trials=0", "budget.trials"),
    ("budget.trials", "expected key.path=value"),
    ("methods.clip.normalise=true", "methods.clip.normalise"),
    ("eval_grid.7.op=missing", "not an index"),
    ("budget.epochs=[1", "not valid YAML"),
    ("resources.gpu=auto2", "resources.gpu"),
])
def test_bad_set_override_exits_2(
    tiny_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    assignment: str, expected: str,
) -> None:
    code, _, err = _cli(capsys, str(tiny_study), "--set", assignment, "--out",
                        str(tmp_path / "out"))
    assert code == 2
    assert expected in err and str(tiny_study) in err
    assert not (tmp_path / "out").exists()


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, str(tmp_path / "nope.yaml"))
    assert code == 2 and "nope.yaml: no such study file" in err


def test_not_a_mapping_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    code, _, err = _cli(capsys, str(path))
    assert code == 2 and "a study file is a mapping" in err


def test_impossible_gpu_request_exits_2_before_writing(
    tiny_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the request below would be possible")
    out = tmp_path / "out"
    code, _, err = _cli(capsys, str(tiny_study), "--set", "resources.gpu=1", "--out", str(out))
    assert code == 2
    assert "resources.gpu" in err and "has none" in err
    assert not out.exists()


def test_too_many_cpus_exits_2(
    tiny_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, _, err = _cli(capsys, str(tiny_study), "--set", "resources.cpu=4096", "--out", str(out))
    assert code == 2 and "resources.cpu" in err and "largest node" in err
    assert not out.exists()


def test_set_overrides_reach_the_plan(
    tiny_study: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, str(tiny_study), "--dry-run", "--set", "budget.trials=5",
                        "--set", "methods.symile.negatives=n_squared",
                        "--set", "eval_grid.0.fraction=[0.25,0.75]")
    assert code == 0
    assert "5 trials x 2 epochs" in out
    assert "negatives='n_squared'" in out
    assert "missing(b, fraction=0.25)" in out and "missing(b, fraction=0.75)" in out
    assert "estimated tuning trials: 10" in out


def test_dry_run_prints_the_plan_and_writes_nothing(
    tiny_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(capsys, str(tiny_study), "--dry-run", "--out", str(tmp_path / "o"))
    assert code == 0
    for fragment in ["study 'tiny'", "methods (2 variants", "clip: clip", "lr: [0.0001",
                     "grid: 4 conditions", "gaussian_noise", "final runs: 4",
                     "resources per trial: cpu 1"]:
        assert fragment in out, fragment
    assert not (tmp_path / "o").exists()


def test_variant_of_a_method_fixes_its_options_out_of_the_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny: dict[str, Any], writer: Any
) -> None:
    study = _with(tiny, {"methods.clip_fixed": {"method": "clip", "logit_scale_init": 1.0,
                                          "search": {"lr": 0.001, "weight_decay": [0.0001]}}})
    path = writer(tmp_path, study, "variant.yaml")
    code, out, _ = _cli(capsys, str(path), "--dry-run")
    assert code == 0
    block = out.split("clip_fixed: clip")[1].split("symile")[0]
    assert "logit_scale_init=1.0" in block and "logit_scale_init:" not in block
    assert "lr: fixed 0.001" in block and "weight_decay: one of [0.0001]" in block


@pytest.mark.parametrize(("protocol", "metric", "auto"), [
    ("retrieval", "val_top1", "pair_views=True"),
    ("probe", "val_balanced_accuracy", "pair_views=False"),
])
def test_pair_views_auto_is_resolved_for_the_protocol(
    protocol: str, metric: str, auto: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], tiny: dict[str, Any], writer: Any
) -> None:
    """CoMM's and COrAL's `pair_views: auto` is made for the study's protocol (the views
    retrieval scores are trained for retrieval; the paper's loss for the probe), and the
    dry run shows the resolved value; an explicit value is kept either way."""
    study = _with(tiny, {"task.protocol": protocol, "budget.metric": metric,
                         "data": {"kind": "pid", "n": 600} if protocol == "probe"
                         else tiny["data"],
                         "methods": {"comm": {}, "coral": {},
                                     "comm_paper": {"method": "comm", "pair_views": False},
                                     "coral_pairs": {"method": "coral", "pair_views": True}}})
    code, out, err = _cli(capsys, str(writer(tmp_path, study)), "--dry-run")
    assert code == 0, err
    lines = {m.group(1): m.group(0) for m in re.finditer(r"^  (\w+): (?:comm|coral) .*$", out,
                                                           flags=re.MULTILINE)}
    assert set(lines) == {"comm", "coral", "comm_paper", "coral_pairs"}, out
    assert auto in lines["comm"] and auto in lines["coral"], lines
    assert "pair_views=False" in lines["comm_paper"]
    assert "pair_views=True" in lines["coral_pairs"]
    assert "'auto'" not in out


def test_bad_pair_views_exits_2_naming_the_variant(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny: dict[str, Any], writer: Any
) -> None:
    study = _with(tiny, {"methods.coral": {"pair_views": "yes"}})
    code, _, err = _cli(capsys, str(writer(tmp_path, study)), "--dry-run")
    assert code == 2 and "methods.coral" in err and "pair_views" in err and "'auto'" in err


def test_smoke_block_typo_is_caught_without_smoke(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny: dict[str, Any], writer: Any
) -> None:
    path = writer(tmp_path, _with(tiny, {"smoke": {"budget.trails": 1}}))
    code, _, err = _cli(capsys, str(path), "--dry-run")
    assert code == 2 and "budget.trails" in err


@pytest.mark.parametrize("study", sorted(Path(__file__).resolve().parents[2]
                                         .joinpath("studies").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_shipped_studies_validate(study: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in ([str(study), "--dry-run"], [str(study), "--dry-run", "--smoke"]):
        code, out, err = _cli(capsys, *args)
        assert code == 0, err
        assert "estimated tuning trials" in out


def test_binned_and_provenance_slices_are_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny: dict[str, Any], writer: Any
) -> None:
    study = _with(tiny, {"report": {"slices": ["observed", "corrupted_modality",
                                               {"column": "severity", "bins": 3}]}})
    code, _, err = _cli(capsys, str(writer(tmp_path, study)), "--dry-run")
    assert code == 0, err
