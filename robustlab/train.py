"""Training: one function trains a method on a dataset from a typed config (DESIGN §8).

AdamW over the method's `param_groups`, linear warm-up then cosine decay (per step),
gradient clipping, early stopping on the validation metric, optional train-time
perturbation of every batch (drawn over the whole train split each epoch), bf16 autocast as
an option, atomic per-epoch checkpoints that resume bit-for-bit, and a per-epoch callback
(the tuner reports through it).

Determinism. Every random draw of epoch `e` (batch order, the loss's negatives, dropout and
augmentations inside the method, the train-time perturbation) comes from a stream derived
from `(config.seed, e)` with `numpy.random.SeedSequence`. Dropout cannot take a generator,
so the global torch RNG is reseeded per epoch inside `torch.random.fork_rng`, which restores
the caller's RNG state afterwards. Because an epoch's randomness is a function of the seed
and the epoch number alone, a checkpoint needs no RNG snapshot to resume exactly: the
seed and the epoch it records determine every later draw. On CPU a run is deterministic for
a seed (`torch.use_deterministic_algorithms` is switched on for the run and restored).
"""

from __future__ import annotations

import copy
import io
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from perturbations import Operator
from perturbations.tensors import apply_torch
from robustlab.data.batch import Batch
from robustlab.data.dataset import Split, TrimodalDataset
from robustlab.evaluate import Task, balanced_accuracy, device_of, evaluate, top1
from robustlab.methods.base import Method
from robustlab.results import atomic_write_bytes

__all__ = [
    "DivergedError",
    "EpochReport",
    "Task",
    "TermMeans",
    "TrainConfig",
    "TrainResult",
    "make_optimizer",
    "resolve_device",
    "train",
    "train_step",
    "warmup_cosine",
]

DEVICES = ("auto", "cpu", "cuda")
PERTURBATION_DRAWS = ("epoch", "once")
#: 2 (issue 24): per-modality layers stored stacked (`robustlab.methods.stacked`), so the
#: model's and the optimizer's tensors are not those of format 1
CHECKPOINT_FORMAT = 2


class DivergedError(RuntimeError):
    """The training loss became NaN or inf; a tuner marks the trial failed."""


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Field names are the tuner's search-space names (lr, weight_decay, ...).

    perturbation_draw: "epoch" = the train-time perturbation is drawn afresh every epoch
    (corruption as augmentation: an example is hit in some epochs and intact in others);
    "once" = drawn once per run and kept for every epoch (missing or corrupt *data*: the
    same examples stay hit, as in Symile-M3's fixed missingness indicators).
    """

    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.1
    grad_clip: float | None = 1.0
    patience: int | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    bf16: bool = False
    seed: int = 0
    perturbation_draw: Literal["epoch", "once"] = "epoch"

    def __post_init__(self) -> None:
        _check_int("epochs", self.epochs, low=1)
        _check_int("batch_size", self.batch_size, low=2)  # a contrastive batch needs negatives
        _check_float("lr", self.lr, positive=True)
        _check_float("weight_decay", self.weight_decay, positive=False)
        _check_float("warmup_fraction", self.warmup_fraction, positive=False)
        if not self.warmup_fraction < 1:
            raise ValueError(
                f"train.warmup_fraction: must be in [0, 1), got {self.warmup_fraction}"
            )
        if self.grad_clip is not None:
            _check_float("grad_clip", self.grad_clip, positive=True)
        if self.patience is not None:
            _check_int("patience", self.patience, low=1)
        if self.device not in DEVICES:
            raise ValueError(f"train.device: must be one of {DEVICES}, got {self.device!r}")
        if not isinstance(self.bf16, bool):
            raise ValueError(f"train.bf16: must be true or false, got {self.bf16!r}")
        _check_int("seed", self.seed, low=0)
        if self.perturbation_draw not in PERTURBATION_DRAWS:
            raise ValueError(f"train.perturbation_draw: must be one of {PERTURBATION_DRAWS}, "
                             f"got {self.perturbation_draw!r}")


def _check_int(name: str, value: object, *, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"train.{name}: must be an int >= {low}, got {value!r}")


def _check_float(name: str, value: object, *, positive: bool) -> None:
    bad = isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
    if bad or (value <= 0 if positive else value < 0):  # type: ignore[operator]
        want = "a finite number > 0" if positive else "a finite number >= 0"
        raise ValueError(f"train.{name}: must be {want}, got {value!r}")


@dataclass(frozen=True)
class EpochReport:
    """One finished epoch (1-based). `terms` are the loss terms' epoch means."""

    epoch: int
    train_loss: float
    val_metric: float
    terms: dict[str, float]
    wall_time_s: float


@dataclass(frozen=True)
class TrainResult:
    """Outcome of `train`; the method is left holding the weights of `best_epoch`."""

    best_metric: float
    best_epoch: int
    epochs_run: int
    history: list[EpochReport] = field(default_factory=list)


@dataclass
class _State:
    """Everything a checkpoint holds beyond the modules' own state dicts."""

    epoch: int = 0  # epochs completed
    best_metric: float = -math.inf
    best_epoch: int = 0
    best_weights: dict[str, Tensor] = field(default_factory=dict)
    stale: int = 0  # epochs since the best
    stopped: bool = False  # early stopping fired
    history: list[EpochReport] = field(default_factory=list)


def train(
    method: Method,
    dataset: TrimodalDataset,
    config: TrainConfig,
    *,
    task: Task,
    train_perturbation: Operator | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    checkpoint_path: Path | None = None,
    resume: bool = False,
) -> TrainResult:
    """Train `method` on `dataset`'s train split; validate on its val split every epoch.

    The validation metric is retrieval top-1 (retrieval protocol) or linear-probe balanced
    accuracy (probe protocol); higher is better. `train_perturbation` (a perturbation
    operator) corrupts every training batch: each epoch perturbs the whole train split with
    that epoch's seed, then batches it, so the affected examples (exactly round(fraction·N))
    and swap partners are drawn across the split, as a dataset-level corruption would draw
    them, and afresh every epoch (or once for the whole run with
    `config.perturbation_draw = "once"`). (Drawn within each batch, a swapped signal would
    always be that of an in-batch negative: a far harsher, different corruption.)

    With `checkpoint_path`, state is saved atomically after every epoch; with `resume` too,
    a run restarts from that checkpoint (a missing file means a fresh start). Raises
    DivergedError on a non-finite loss or gradient norm.
    """
    device = resolve_device(config.device)
    method.to(device)
    data = _DeviceSplit(dataset.split("train"), device)
    steps_per_epoch = data.steps(config.batch_size)
    optimizer = make_optimizer(method, config)
    scheduler = warmup_cosine(optimizer, config.warmup_fraction, config.epochs * steps_per_epoch)
    state = _State()
    if resume and checkpoint_path is not None and checkpoint_path.exists():
        state = _load(checkpoint_path, method, optimizer, scheduler, config, task)
    with _deterministic(device):
        while state.epoch < config.epochs and not state.stopped:
            report = _run_epoch(method, dataset, data, config, task, optimizer, scheduler,
                                train_perturbation, state.epoch + 1)
            _record(state, report, method, config.patience)
            if checkpoint_path is not None:
                _save(checkpoint_path, method, optimizer, scheduler, config, task, state)
            if on_epoch is not None:
                on_epoch(report)
    if state.best_weights:
        method.load_state_dict(state.best_weights)
    return TrainResult(state.best_metric, state.best_epoch, state.epoch, list(state.history))


def resolve_device(device: str) -> torch.device:
    """"auto" → cuda when available, else cpu; "cuda" without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device: 'cuda' was requested but no CUDA device is available")
    return torch.device(device)


def make_optimizer(method: Method, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW over the method's parameter groups. The fused kernel updates every parameter
    in one call (same update rule; on CPU 4-8x faster than the per-tensor loop, which
    costs a fusion method several ms a step)."""
    return torch.optim.AdamW(method.param_groups(config.lr, config.weight_decay), fused=True)


def warmup_cosine(
    optimizer: torch.optim.Optimizer, warmup_fraction: float, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step multiplier of each group's lr: linear warm-up to 1, cosine decay to 0."""
    warmup = math.ceil(warmup_fraction * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


# --- one epoch ---------------------------------------------------------------------------


def _run_epoch(
    method: Method,
    dataset: TrimodalDataset,
    data: _DeviceSplit,
    config: TrainConfig,
    task: Task,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    perturbation: Operator | None,
    epoch: int,
) -> EpochReport:
    start = time.perf_counter()
    order_seed, loss_seed, global_seed, perturb_seed = _epoch_seeds(config.seed, epoch)
    if config.perturbation_draw == "once":  # the same draw every epoch: epoch 0's stream
        perturb_seed = _epoch_seeds(config.seed, 0)[3]
    generator = torch.Generator(device=data.device).manual_seed(loss_seed)
    means = TermMeans()
    method.train()
    with torch.random.fork_rng(devices=_cuda_devices(data.device)):
        torch.manual_seed(global_seed)  # dropout / augmentations that use the global RNG
        source = data if perturbation is None else data.perturbed(perturbation, perturb_seed)
        for step, batch in enumerate(source.batches(config.batch_size, order_seed)):
            terms = train_step(method, batch, generator, optimizer, scheduler, config)
            _check_finite(terms, epoch, step)
            means.add(terms, batch.size)
    metric = validate(method, dataset, task, config.seed)
    epoch_terms = means.result()
    return EpochReport(epoch, epoch_terms["loss"], metric, epoch_terms,
                       time.perf_counter() - start)


class TermMeans:
    """Example-weighted means of named loss terms over an epoch. Each term is averaged over
    the batches that reported it: a fusion method leaves out a view whose modality is
    missing from the whole batch, and that batch must not count as a zero."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, terms: dict[str, float], size: int) -> None:
        for name, value in terms.items():
            self.sums[name] = self.sums.get(name, 0.0) + value * size
            self.counts[name] = self.counts.get(name, 0) + size

    def result(self) -> dict[str, float]:
        return {name: total / self.counts[name] for name, total in self.sums.items()}


def train_step(
    method: Method,
    batch: Batch,
    generator: torch.Generator,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config: TrainConfig,
) -> dict[str, float]:
    """One optimisation step exactly as `train` runs it (bf16 autocast when configured,
    backward, clipping, AdamW and scheduler step); the loss terms as floats, plus
    `grad_norm`, the total gradient norm before clipping. A non-finite loss or gradient
    norm skips the update (the caller raises `DivergedError` on it)."""
    device_type = batch.index.device.type
    with torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=config.bf16):
        terms = method.loss(batch, generator)
    if "loss" not in terms:
        raise KeyError(f"{type(method).__name__}.loss returned no 'loss' term ({list(terms)})")
    optimizer.zero_grad(set_to_none=True)
    terms["loss"].float().backward()
    # max_norm = inf measures without scaling: a finite loss can still overflow a gradient
    clip = config.grad_clip if config.grad_clip is not None else math.inf
    norm = torch.nn.utils.clip_grad_norm_(method.parameters(), clip)
    # one device-to-host copy for every logged number (each float() would be a sync)
    numbers = torch.stack([*(v.detach().float() for v in terms.values()), norm.float()]).tolist()
    values, grad_norm = dict(zip(terms, numbers[:-1], strict=True)), numbers[-1]
    if math.isfinite(values["loss"]) and math.isfinite(grad_norm):
        optimizer.step()  # a non-finite step would poison the weights the caller keeps
        scheduler.step()
    return {**values, "grad_norm": grad_norm}


def _check_finite(terms: dict[str, float], epoch: int, step: int) -> None:
    if not (math.isfinite(terms["loss"]) and math.isfinite(terms["grad_norm"])):
        shown = ", ".join(f"{k}={v:.4g}" for k, v in terms.items())
        raise DivergedError(f"non-finite training loss or gradient at epoch {epoch}, "
                            f"step {step}: {shown}")


def validate(method: Method, dataset: TrimodalDataset, task: Task, seed: int) -> float:
    """The validation metric: retrieval top-1 or probe balanced accuracy on the val split."""
    val = dataset.split("val")
    probe_train = dataset.split("train") if task.protocol == "probe" else None
    frame = evaluate(method, dataset, val, task=task, seed=seed, probe_train=probe_train)
    return top1(frame) if task.protocol == "retrieval" else balanced_accuracy(frame)


def _record(state: _State, report: EpochReport, method: Method, patience: int | None) -> None:
    state.epoch = report.epoch
    state.history.append(report)
    if report.val_metric > state.best_metric:
        state.best_metric = report.val_metric
        state.best_epoch = report.epoch
        state.best_weights = copy.deepcopy(method.state_dict())
        state.stale = 0
    else:
        state.stale += 1
    state.stopped = patience is not None and state.stale >= patience


def _epoch_seeds(seed: int, epoch: int) -> list[int]:
    """Four independent 63-bit seeds for epoch `epoch` of a run seeded `seed`."""
    words = np.random.SeedSequence([seed, epoch]).generate_state(4, dtype=np.uint64)
    return [int(w >> np.uint64(1)) for w in words]


def _cuda_devices(device: torch.device) -> list[int]:
    return [device.index or 0] if device.type == "cuda" else []


@contextmanager
def _deterministic(device: torch.device) -> Iterator[None]:
    """Deterministic kernels on CPU for the duration of a run; the caller's settings after.

    Deterministic mode also fills every fresh tensor's memory with NaN by default
    (`torch.utils.deterministic.fill_uninitialized_memory`), a guard against reading memory
    nothing wrote. No op here reads such memory, so the fill changes no result, but it is one
    extra pass over every allocation (1-4 % of a step, `python -m bench fast_paths`): off
    for the run."""
    if device.type != "cpu":
        yield
        return
    import torch.utils.deterministic

    settings: Any = torch.utils.deterministic  # a module with properties: untyped
    previous = torch.are_deterministic_algorithms_enabled(), settings.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True)
    settings.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0])
        settings.fill_uninitialized_memory = previous[1]


class _DeviceSplit:
    """A split's tensors moved to the training device once, batched by index."""

    def __init__(self, split: Split, device: torch.device) -> None:
        whole = split.to_batch().to(device)
        self.x, self.mask, self.index, self.label = whole.x, whole.mask, whole.index, whole.label
        self.size = whole.size
        self.device = device

    def perturbed(self, op: Operator, seed: int) -> _DeviceSplit:
        """A copy with `op` applied to the whole split (untouched tensors shared)."""
        perturbed = copy.copy(self)
        perturbed.x, perturbed.mask, _ = apply_torch(op, self.x, self.mask, self.index, seed)
        return perturbed

    def steps(self, batch_size: int) -> int:
        return max(1, self.size // batch_size)

    def batches(self, batch_size: int, seed: int) -> Iterator[Batch]:
        """Shuffled full batches (a short last batch is dropped: contrastive losses depend
        on the batch size); a split smaller than one batch is one batch."""
        order = torch.from_numpy(np.random.default_rng(seed).permutation(self.size))
        order = order.to(self.device)
        for step in range(self.steps(batch_size)):
            rows = order[step * batch_size : (step + 1) * batch_size]
            yield Batch(
                x={m: v[rows] for m, v in self.x.items()},
                mask={m: v[rows] for m, v in self.mask.items()},
                index=self.index[rows],
                label=None if self.label is None else self.label[rows],
            )


# --- checkpoints -------------------------------------------------------------------------


def _save(
    path: Path,
    method: Method,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config: TrainConfig,
    task: Task,
    state: _State,
) -> None:
    payload = {
        "format": CHECKPOINT_FORMAT,
        "config": asdict(config),
        "task": asdict(task),
        "model": method.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "state": {**asdict(state), "history": [asdict(r) for r in state.history]},
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _load(
    path: Path,
    method: Method,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config: TrainConfig,
    task: Task,
) -> _State:
    payload = torch.load(path, map_location=device_of(method), weights_only=True)
    found = payload.get("format") if isinstance(payload, dict) else None
    if found != CHECKPOINT_FORMAT:
        why = (f"written in format {found} by an older robustlab" if isinstance(found, int)
               else "not a robustlab training checkpoint")
        raise ValueError(f"{path}: {why} (this version reads format {CHECKPOINT_FORMAT}); "
                         "delete it to train from the start")
    _check_same(path, "config", payload["config"], asdict(config))
    _check_same(path, "task", payload["task"], asdict(task))
    method.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    saved = payload["state"]
    saved["history"] = [EpochReport(**r) for r in saved["history"]]
    return _State(**{f.name: saved[f.name] for f in fields(_State)})


def _check_same(path: Path, what: str, saved: dict[str, Any], now: dict[str, Any]) -> None:
    diff = {k: (saved.get(k), v) for k, v in now.items() if saved.get(k) != v}
    if diff:
        shown = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
        raise ValueError(f"{path}: cannot resume, the {what} differs ({shown})")

