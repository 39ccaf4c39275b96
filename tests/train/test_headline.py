"""The papers' headline effects at a size that trains in seconds on one CPU core.

Full-scale versions: `python -m bench xnor_sweep` (the Gated Symile fragility sweep).
Settings were fixed before the assertions were written and are not tuned per assertion.
"""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from robustlab.data import DATASETS, TrimodalDataset
from robustlab.evaluate import Task, balanced_accuracy, evaluate, top1
from robustlab.train import TrainConfig, train

from .conftest import Builder

pytestmark = pytest.mark.slow


def _retrieval_top1(name: str, data: TrimodalDataset, build: Builder, config: TrainConfig,
                    task: Task, dim: int) -> tuple[float, int]:
    method = build(name, data, dim=dim)
    train(method, data, config, task=task)
    frame = evaluate(method, data, data.split("test"), task=task, seed=0)
    return top1(frame), int(frame["correct"].sum())


def test_symile_solves_xor_while_clip_stays_at_chance(build: Builder) -> None:
    """symile_xor, d = 5, p̂ = 1 (the Symile paper's setting): b = a XOR c carries no
    pairwise information, so CLIP's retrieval of b among the 32 vectors is at chance."""
    d = 5
    data = DATASETS.get("symile_xor")(d=d, n=5000, p_hat=1.0).build(0)
    task = Task(target="b")
    config = TrainConfig(epochs=3, batch_size=128, lr=1e-2, device="cpu", seed=0)
    n_test = len(data.split("test"))
    symile, _ = _retrieval_top1("symile", data, build, config, task, dim=32)
    clip, clip_hits = _retrieval_top1("clip", data, build, config, task, dim=32)
    chance = 1 / 2**d
    assert symile > 0.9  # far above chance (0.031)
    # CLIP is statistically indistinguishable from chance on the 500 test queries
    assert binomtest(clip_hits, n_test, chance).pvalue > 1e-3, clip
    assert clip < 3 * chance


def test_xnor_corruption_hurts_symile_and_gated_symile_keeps_more(build: Builder) -> None:
    """synthetic_xnor: at p = 0.6 corrupted training/test data Symile's top-1 collapses
    while Gated Symile keeps more of it (the sweep in bench/ shows the same at every p > 0
    over 3 seeds)."""
    config = TrainConfig(epochs=8, batch_size=128, lr=1e-2, device="cpu", seed=0)
    task = Task(target="a")
    clean = DATASETS.get("synthetic_xnor")(n=4000, corruption=0.0).build(0)
    corrupted = DATASETS.get("synthetic_xnor")(n=4000, corruption=0.6).build(0)
    symile_clean, _ = _retrieval_top1("symile", clean, build, config, task, dim=64)
    symile_corrupt, _ = _retrieval_top1("symile", corrupted, build, config, task, dim=64)
    gated_corrupt, _ = _retrieval_top1("gated_symile", corrupted, build, config, task, dim=64)
    assert symile_clean > 0.5
    assert symile_corrupt < symile_clean - 0.4
    assert gated_corrupt > symile_corrupt + 0.03


def test_pid_redundancy_all_methods_probe_alike(build: Builder) -> None:
    """pid, redundancy setting: the label is in the shared block every modality sees, so
    CLIP's, CoMM's and COrAL's linear probes land close together (and well above chance)."""
    data = DATASETS.get("pid")(setting="redundancy", n=2000).build(0)
    probe = Task(protocol="probe")
    config = TrainConfig(epochs=3, batch_size=128, lr=3e-3, device="cpu", seed=0)
    scores = {}
    for name in ("clip", "comm", "coral"):
        method = build(name, data, dim=32)
        train(method, data, config, task=probe)
        frame = evaluate(method, data, data.split("test"), task=probe, seed=0,
                         probe_train=data.split("train"))
        scores[name] = balanced_accuracy(frame)
    assert min(scores.values()) > 0.75, scores
    assert max(scores.values()) - min(scores.values()) < 0.08, scores
