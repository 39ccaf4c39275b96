"""The cluster path for real: a head and a worker node on localhost (Ray's own
`ray.cluster_utils.Cluster`), a study joining it with `--address`, both nodes torn down by
the handles that started them (never `ray stop`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


def test_study_runs_on_a_two_node_cluster(
    tmp_path: Path, tiny: dict[str, Any], writer: Any, cli: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    tiny["methods"] = {"clip": {}}
    tiny["final"] = {"seeds": [0]}
    tiny["budget"] = {"trials": 4, "epochs": 3, "scheduler": "asha", "grace_period": 1,
                      "reduction_factor": 2, "metric": "val_top1"}
    study = writer(tmp_path, tiny)
    cluster = Cluster(initialize_head=True, shutdown_at_exit=False,
                      head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        address = cluster.address
        # A trial can never fit 2 CPUs on one node: refused before anything is written.
        refused = cli(str(study), "--address", address, "--set", "resources.cpu=2",
                      "--out", str(tmp_path / "refused"))
        assert refused.returncode == 2 and "largest node has 1" in refused.stderr
        assert not (tmp_path / "refused").exists()
        out = tmp_path / "out"
        done = cli(str(study), "--address", address, "--out", str(out), "--quiet")
        assert done.returncode == 0, done.stderr[-3000:]
    finally:
        cluster.shutdown()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["cluster"]["address"] == address
    assert manifest["cluster"]["cpus"] == 2 and manifest["cluster"]["max_node_cpus"] == 1
    assert manifest["resources"]["concurrency"] == 2
    assert not (out / "ray_tmp").exists(), "a joined cluster keeps its own temp dir"
    trials = pl.read_parquet(out / "trials.parquet")
    assert trials.height == 4 and set(trials["status"]) <= {"completed", "stopped"}
    # Which trials ASHA stops depends on arrival order; how they are labelled does not.
    for epochs, status in trials.select("epochs", "status").iter_rows():
        assert status == ("completed" if epochs == 3 else "stopped"), (epochs, status)
    assert manifest["notes"] and "ASHA" in manifest["notes"][0]
    predictions = pl.read_parquet(out / "predictions.parquet")
    assert predictions["condition"].n_unique() == 4 and set(predictions["seed"]) == {0}
