"""The training loop: determinism, checkpoints and resume, early stopping, divergence,
parameter groups, train-time perturbation, the probe protocol. Tiny real data and methods."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from perturbations import OPERATORS
from robustlab.data import TrimodalDataset
from robustlab.data.perturb import perturb_split
from robustlab.evaluate import balanced_accuracy, evaluate, top1
from robustlab.train import (
    DivergedError,
    EpochReport,
    Task,
    TermMeans,
    TrainConfig,
    _epoch_seeds,
    train,
)

from .conftest import Builder

RETRIEVE_B = Task(protocol="retrieval", target="b")
FAST = TrainConfig(epochs=3, batch_size=64, lr=3e-3, device="cpu", seed=0)

pytestmark = pytest.mark.slow


def _weights(method: torch.nn.Module) -> list[torch.Tensor]:
    return [t.detach().clone() for t in method.state_dict().values()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def _timeless(report: EpochReport) -> tuple[object, ...]:
    return (report.epoch, report.train_loss, report.val_metric, report.terms)


def test_same_seed_same_run_other_seed_other_run(xor_small: TrimodalDataset,
                                                 build: Builder) -> None:
    runs = []
    for seed in (0, 0, 1):
        method = build("gated_symile", xor_small)  # dropout-free init is the same for all
        result = train(method, xor_small, dataclasses.replace(FAST, seed=seed), task=RETRIEVE_B)
        runs.append(([r.train_loss for r in result.history], _weights(method)))
    assert runs[0][0] == runs[1][0]
    assert _same(runs[0][1], runs[1][1])
    assert runs[0][0] != runs[2][0]


def test_global_rng_is_left_untouched(xor_small: TrimodalDataset, build: Builder) -> None:
    method = build("clip", xor_small)
    before = torch.get_rng_state()
    train(method, xor_small, dataclasses.replace(FAST, epochs=1), task=RETRIEVE_B)
    assert torch.equal(before, torch.get_rng_state())


def test_deterministic_settings_hold_during_a_run_and_are_restored(
    xor_small: TrimodalDataset, build: Builder
) -> None:
    """Deterministic kernels on, the NaN fill of fresh memory off (it changes no result,
    issue 24) while training; the caller's settings after."""
    import torch.utils.deterministic as settings

    seen = []

    def record(report: EpochReport) -> None:
        seen.append((torch.are_deterministic_algorithms_enabled(),
                     settings.fill_uninitialized_memory))

    before = (torch.are_deterministic_algorithms_enabled(), settings.fill_uninitialized_memory)
    train(build("clip", xor_small), xor_small, dataclasses.replace(FAST, epochs=1),
          task=RETRIEVE_B, on_epoch=record)
    assert seen == [(True, False)]
    assert (torch.are_deterministic_algorithms_enabled(),
            settings.fill_uninitialized_memory) == before


def test_resume_after_interruption_matches_an_uninterrupted_run(
    xor_small: TrimodalDataset, build: Builder, tmp_path: Path
) -> None:
    config = dataclasses.replace(FAST, epochs=4)
    straight = build("symile", xor_small)
    expected = train(straight, xor_small, config, task=RETRIEVE_B)

    class Interrupt(Exception):
        pass

    def stop_after_two(report: EpochReport) -> None:
        if report.epoch == 2:
            raise Interrupt

    ckpt = tmp_path / "run" / "last.pt"
    with pytest.raises(Interrupt):
        train(build("symile", xor_small), xor_small, config, task=RETRIEVE_B,
              checkpoint_path=ckpt, on_epoch=stop_after_two)
    assert ckpt.exists()
    assert [p.name for p in ckpt.parent.iterdir()] == ["last.pt"]  # no temp file left over
    seen: list[int] = []
    resumed = build("symile", xor_small)  # a fresh model: the weights come from the file
    result = train(resumed, xor_small, config, task=RETRIEVE_B, checkpoint_path=ckpt,
                   resume=True, on_epoch=lambda r: seen.append(r.epoch))
    assert seen == [3, 4]
    assert [_timeless(r) for r in result.history] == [_timeless(r) for r in expected.history]
    assert (result.best_metric, result.best_epoch) == (expected.best_metric, expected.best_epoch)
    assert _same(_weights(resumed), _weights(straight))


def test_resume_refuses_a_checkpoint_of_another_config(
    xor_small: TrimodalDataset, build: Builder, tmp_path: Path
) -> None:
    ckpt = tmp_path / "ck.pt"
    config = dataclasses.replace(FAST, epochs=1)
    train(build("clip", xor_small), xor_small, config, task=RETRIEVE_B, checkpoint_path=ckpt)
    with pytest.raises(ValueError, match=r"config differs \(lr: checkpoint 0.003 vs now 0.01"):
        train(build("clip", xor_small), xor_small, dataclasses.replace(config, lr=1e-2),
              task=RETRIEVE_B, checkpoint_path=ckpt, resume=True)


def test_resume_refuses_a_checkpoint_of_an_older_format(
    xor_small: TrimodalDataset, build: Builder, tmp_path: Path
) -> None:
    """A format-1 checkpoint (per-modality tensors, before issue 24's stacked storage) is
    named as such, not loaded into the wrong tensors."""
    ckpt = tmp_path / "ck.pt"
    config = dataclasses.replace(FAST, epochs=1)
    train(build("clip", xor_small), xor_small, config, task=RETRIEVE_B, checkpoint_path=ckpt)
    payload = torch.load(ckpt, weights_only=True)
    torch.save({**payload, "format": 1}, ckpt)
    with pytest.raises(ValueError, match=r"written in format 1 by an older robustlab \(this "
                                         r"version reads format 2\); delete it"):
        train(build("clip", xor_small), xor_small, config, task=RETRIEVE_B,
              checkpoint_path=ckpt, resume=True)


def test_early_stopping_keeps_the_best_weights(xor_small: TrimodalDataset,
                                               build: Builder) -> None:
    """CLIP cannot learn symile_xor (pairwise information is zero), so its val metric
    wanders; with patience 1 it stops one epoch after its best and hands back the best."""
    method = build("clip", xor_small)
    config = dataclasses.replace(FAST, epochs=30, patience=1)
    result = train(method, xor_small, config, task=RETRIEVE_B)
    assert result.epochs_run == result.best_epoch + 1 < 30
    assert result.history[-1].val_metric <= result.best_metric
    val = evaluate(method, xor_small, xor_small.split("val"), task=RETRIEVE_B, seed=0)
    assert top1(val) == result.best_metric


def test_nan_loss_raises_diverged_and_keeps_finite_weights(
    xor_small: TrimodalDataset, build: Builder
) -> None:
    train_split = xor_small.split("train")
    poisoned = {m: x.copy() for m, x in train_split.features.items()}
    poisoned["a"][:, 0] = np.nan  # every batch sees it
    splits = {**xor_small.splits, "train": train_split.replace(features=poisoned)}
    broken = dataclasses.replace(xor_small, splits=splits)
    method = build("symile", broken)
    with pytest.raises(DivergedError, match="non-finite training loss or gradient at epoch 1"):
        train(method, broken, FAST, task=RETRIEVE_B)
    assert all(torch.isfinite(t).all() for t in _weights(method))


@pytest.mark.parametrize("grad_clip", [1.0, None])
def test_finite_loss_with_overflowing_gradient_raises_before_the_update(
    xor_small: TrimodalDataset, build: Builder, grad_clip: float | None
) -> None:
    """A finite loss whose gradient overflows (as bf16 can) must not reach AdamW: the
    weights stay as they were and the run is diverged."""
    method = build("clip", xor_small)
    before = _weights(method)
    param = next(method.parameters())
    param.register_hook(lambda g: g * math.inf)  # the overflow, injected in backward
    config = dataclasses.replace(FAST, grad_clip=grad_clip)
    with pytest.raises(DivergedError, match=r"step 0: loss=[0-9.]+.*grad_norm=(inf|nan)"):
        train(method, xor_small, config, task=RETRIEVE_B)
    assert _same(before, _weights(method))


def test_gate_parameter_group_gets_its_lr_multiplier_and_no_decay(
    xor_small: TrimodalDataset, build: Builder, tmp_path: Path
) -> None:
    method = build("gated_symile", xor_small, gate_lr_mult=5.0)
    ckpt = tmp_path / "ck.pt"
    config = dataclasses.replace(FAST, epochs=1, lr=1e-3, weight_decay=0.05)
    train(method, xor_small, config, task=RETRIEVE_B, checkpoint_path=ckpt)
    groups = torch.load(ckpt, weights_only=True)["optimizer"]["param_groups"]
    pairs = sorted((g["initial_lr"], g["weight_decay"]) for g in groups)
    assert pairs[-1] == (pytest.approx(5e-3), 0.0)
    assert (pytest.approx(1e-3), 0.05) in pairs


def test_train_time_perturbation_changes_training_deterministically(
    xor_small: TrimodalDataset, build: Builder
) -> None:
    noise = OPERATORS.get("gaussian_noise")(modality="a", severity=5, fraction=1.0)
    config = dataclasses.replace(FAST, epochs=2)
    runs = [
        [r.train_loss for r in train(build("symile", xor_small), xor_small, config,
                                     task=RETRIEVE_B, train_perturbation=op).history]
        for op in (None, noise, noise)
    ]
    assert runs[1] == runs[2]
    assert runs[0] != runs[1]


def test_train_time_corruption_is_drawn_across_the_whole_split(
    xor_small: TrimodalDataset, build: Builder
) -> None:
    """Epoch e trains on the train split perturbed as a whole with that epoch's seed (the
    examples hit and their swap partners span the split, not one batch): one epoch with
    the operator equals one epoch on the split perturbed beforehand by `perturb_split`."""
    swap = OPERATORS.get("swap_modality")(modality="a", fraction=0.5)
    config = dataclasses.replace(FAST, epochs=1)
    corrupted = build("clip", xor_small)
    train(corrupted, xor_small, config, task=RETRIEVE_B, train_perturbation=swap)
    epoch_one_seed = _epoch_seeds(config.seed, 1)[3]
    split, _ = perturb_split(xor_small.split("train"), swap, seed=epoch_one_seed)
    beforehand = dataclasses.replace(xor_small, splits={**xor_small.splits, "train": split})
    reference = build("clip", xor_small)
    train(reference, beforehand, config, task=RETRIEVE_B)
    assert _same(_weights(corrupted), _weights(reference))


def test_perturbation_drawn_once_stays_the_same_every_epoch(
    xor_small: TrimodalDataset, build: Builder
) -> None:
    """`perturbation_draw="once"`: every epoch trains on the split perturbed with epoch 0's
    stream (missing *data*, as Symile-M3's fixed indicators); "epoch" redraws it."""
    missing = OPERATORS.get("missing")(modality="a", fraction=0.5)
    once = dataclasses.replace(FAST, epochs=2, perturbation_draw="once")
    fixed = build("clip", xor_small)
    train(fixed, xor_small, once, task=RETRIEVE_B, train_perturbation=missing)
    split, _ = perturb_split(xor_small.split("train"), missing, seed=_epoch_seeds(0, 0)[3])
    beforehand = dataclasses.replace(xor_small, splits={**xor_small.splits, "train": split})
    reference = build("clip", xor_small)
    train(reference, beforehand, dataclasses.replace(once, perturbation_draw="epoch"),
          task=RETRIEVE_B)
    assert _same(_weights(fixed), _weights(reference))
    redrawn = build("clip", xor_small)
    train(redrawn, xor_small, dataclasses.replace(once, perturbation_draw="epoch"),
          task=RETRIEVE_B, train_perturbation=missing)
    assert not _same(_weights(fixed), _weights(redrawn))


def test_probe_protocol_validates_with_balanced_accuracy(
    pid_small: TrimodalDataset, build: Builder
) -> None:
    method = build("comm", pid_small)
    probe = Task(protocol="probe")
    result = train(method, pid_small, dataclasses.replace(FAST, epochs=2), task=probe)
    frame = evaluate(method, pid_small, pid_small.split("val"), task=probe, seed=0,
                     probe_train=pid_small.split("train"))
    assert balanced_accuracy(frame) == result.best_metric
    assert 0.0 <= result.best_metric <= 1.0


def test_bf16_autocast_on_cpu_trains(xor_small: TrimodalDataset, build: Builder) -> None:
    config = dataclasses.replace(FAST, epochs=1, bf16=True)
    result = train(build("symile", xor_small), xor_small, config, task=RETRIEVE_B)
    assert np.isfinite(result.history[0].train_loss)


def test_cuda_without_a_gpu_is_a_clear_error(xor_small: TrimodalDataset,
                                             build: Builder) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match=r"train\.device: 'cuda'"):
        train(build("clip", xor_small), xor_small, dataclasses.replace(FAST, device="cuda"),
              task=RETRIEVE_B)


def test_resuming_a_finished_run_trains_nothing_and_restores_the_best(
    xor_small: TrimodalDataset, build: Builder, tmp_path: Path
) -> None:
    ckpt = tmp_path / "ck.pt"
    config = dataclasses.replace(FAST, epochs=2)
    first = build("clip", xor_small)
    done = train(first, xor_small, config, task=RETRIEVE_B, checkpoint_path=ckpt)
    calls: list[EpochReport] = []
    again = build("clip", xor_small, seed=7)
    result = train(again, xor_small, config, task=RETRIEVE_B, checkpoint_path=ckpt,
                   resume=True, on_epoch=calls.append)
    assert calls == []
    assert (result.best_metric, result.best_epoch, result.epochs_run) == (
        done.best_metric, done.best_epoch, done.epochs_run)
    assert _same(_weights(again), _weights(first))


def test_epoch_term_means_count_only_the_batches_that_report_a_term() -> None:
    means = TermMeans()
    means.add({"loss": 1.0, "view_c": 3.0}, size=10)
    means.add({"loss": 2.0}, size=30)  # c missing from the whole batch: no view_c term
    assert means.result() == {"loss": pytest.approx(1.75), "view_c": pytest.approx(3.0)}
