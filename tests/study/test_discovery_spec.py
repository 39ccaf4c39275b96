"""`report.discovery` in a study file: a bad option is exit status 2 naming its YAML path (and
the closest valid name), nothing written; the study spec and the report's options agree on
every field and default; the fingerprint ignores the block (old folders keep resuming)."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from robustlab.embedding_store import read_embeddings
from robustlab.stats.discovery_options import DiscoveryOptions
from robustlab.study import manifest
from robustlab.study.cli import main
from robustlab.study.discovery_spec import DiscoverySpec
from robustlab.study.spec import parse_spec

BAD = [
    ({"depht": 3}, ["report.discovery.depht", "did you mean 'depth'"]),
    ({"depth": 4}, ["report.discovery.depth", "less than or equal to 3"]),
    ({"guarantee": "bonferroni"}, ["report.discovery.guarantee", "'holdout' or 'permutation'"]),
    ({"correction": "none"}, ["report.discovery.correction", "'holm' or 'bh'"]),
    ({"clusters": 100}, ["report.discovery.clusters", "'auto' or an int in 0..64"]),
    ({"min_support": 0.9}, ["report.discovery.min_support", "less than or equal to 0.5"]),
    ({"targets": ["failure", "failure"]}, ["report.discovery.targets", "each target once"]),
    ({"targets": ["failures"]}, ["report.discovery.targets.0", "'failure' or 'reversal'"]),
    ({"embeddings": "clipp"}, ["report.discovery.embeddings", "unknown variant 'clipp'",
                               "did you mean 'clip'"]),
    ({"columns": ["corupted_modality"]}, ["report.discovery.columns.0",
                                          "did you mean 'corrupted_modality'"]),
    ({"columns": ["severity"]}, ["report.discovery.columns.0", "unknown metadata column"]),
    ({"enabled": "maybe"}, ["report.discovery.enabled", "valid boolean"]),
]


@pytest.mark.parametrize(("options", "expected"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_discovery_option_exits_2_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny: dict[str, Any], writer: Any,
    options: dict[str, Any], expected: list[str],
) -> None:
    study = copy.deepcopy(tiny)
    study["report"] = {"discovery": options}
    path = writer(tmp_path, study)
    out = tmp_path / "out"
    code = main([str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert str(path) in err
    for fragment in expected:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    assert not out.exists()


def test_spec_and_report_options_agree() -> None:
    spec = DiscoverySpec().model_dump()
    options = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
               for f in dataclasses.fields(DiscoveryOptions)}
    assert spec.keys() == options.keys()
    for key, value in spec.items():
        assert (tuple(value) if isinstance(value, list) else value) == options[key], key
    # what a manifest holds is what the report accepts
    custom = DiscoverySpec(depth=3, columns=["site"], targets=["reversal"], clusters=0)
    assert DiscoveryOptions.from_mapping(custom.model_dump(mode="json")).depth == 3


def test_fingerprint_ignores_the_discovery_block(tiny: dict[str, Any]) -> None:
    plain = parse_spec(tiny, "tiny")
    tuned = parse_spec({**tiny, "report": {"discovery": {"depth": 3}}}, "tiny")
    assert manifest.fingerprint(plain) == manifest.fingerprint(tuned)
    older = plain.model_dump(mode="json")  # what a folder from before discovery hashed
    del older["report"]["discovery"]
    assert manifest.fingerprint(plain) == hashlib.sha256(
        json.dumps(older, sort_keys=True).encode()).hexdigest()


def check_discovery_outputs(out: Path, variants: list[str], seeds: int, n_test: int) -> None:
    """A finished study's slice-discovery outputs (called by test_run's smoke study): every
    final run saved its clean test embeddings, and the report searched their clusters."""
    for name in variants:
        for seed in range(seeds):
            ids, arrays = read_embeddings(out / "parts" / "finals" / name / f"seed{seed}.emb.npz")
            assert ids.size == n_test and sorted(arrays) == ["a", "b", "c"]
            assert all(a.shape == (n_test, min(16, a.shape[1])) for a in arrays.values())
    page = (out / "report.html").read_text()
    start = page.index('id="robustlab-data">') + len('id="robustlab-data">')
    data = json.loads(page[start:page.index("</script>", start)])["discovered-slices"]
    kinds = {name: kind for name, _, kind in data["searched"]["columns"]}
    assert {kinds.get(f"{m} cluster") for m in "abc"} == {"embedding"}, kinds
    assert data["searched"]["notes"] == []
