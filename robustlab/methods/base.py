"""The one interface every method exposes (open_clip style: encode, score, loss).

A registered method is a `Method` subclass with:
  - `Options`: a frozen dataclass of its own options (the YAML keys of a study's variant);
    every field has a default, unknown keys are an error (no **kwargs catch-alls);
  - `build(options, dims, encoder, *, seed=0)`: construct it for a dataset's modality widths,
    parameters initialised from `seed` (the global torch RNG is left untouched);
  - `search_space()`: name -> distribution (robustlab.search_space) of what the tuner may
    vary: training-config fields (lr, weight_decay, ...) and fields of `Options`.

Queries are per-method dicts of tensors: for Symile the context embeddings by modality, for
CoMM the fused context embedding. Evaluation never looks inside them.

Randomness: `loss(batch, generator)` draws every random number (negative permutations,
augmentations, masking, dropout) from `generator`. Without one, a fresh generator seeded 0
is used, so a call is still deterministic, but every such call draws the same numbers;
training passes its own generator.
"""

from __future__ import annotations

import dataclasses
import difflib
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol, TypeVar

import torch
from torch import Tensor, nn

from robustlab.data.batch import Batch
from robustlab.registry import Registry
from robustlab.search_space import Distribution, FloatRange

Query = dict[str, Tensor]
OptionsT = TypeVar("OptionsT")
#: The evaluation protocols a method may be trained for (robustlab.evaluate.Task.protocol).
PROTOCOLS = ("retrieval", "probe")

#: Training-config fields every method lets the tuner vary (same ranges for all methods).
#: lr reaches 3e-2: the small models here train fastest near 1e-2 (the benchmarks' lr), and
#: a study narrows the range to its own (`search: {lr: {low: .., high: ..}}`).
COMMON_SEARCH_SPACE: dict[str, Distribution] = {
    "lr": FloatRange(1e-4, 3e-2, log=True),
    "weight_decay": FloatRange(1e-6, 1e-2, log=True),
}


class EncoderOptions(Protocol):
    """What a method needs of an encoder config (see `robustlab.methods.encoders`): `build`
    returns a module mapping (B, in_dim) -> (B, dim) whose forward is `(x, generator=None)`."""

    @property
    def dim(self) -> int: ...

    def build(self, in_dim: int) -> nn.Module: ...


class Method(nn.Module, ABC):
    """Base class of every method. Subclasses keep losses stateless and return named terms.

    Subclasses implement `__init__(options, dims, encoder)`; callers use `build`, which
    validates the arguments and seeds the parameter initialisation.
    """

    Options: ClassVar[type]
    name: ClassVar[str]
    modalities: tuple[str, ...]

    @classmethod
    def build(
        cls, options: Any, dims: Mapping[str, int], encoder: EncoderOptions, *, seed: int = 0
    ) -> Method:
        """A fresh model for modality widths `dims` (keys = modalities, in order) with the
        shared encoder config; parameters are drawn from `seed` only."""
        if not isinstance(options, cls.Options):
            raise TypeError(
                f"{cls.__name__}.build: options must be {cls.Options.__name__}, "
                f"got {type(options).__name__}"
            )
        check_dims(dims)
        with seeded(seed):
            return cls(options, dims, encoder)

    @classmethod
    def for_protocol(cls, options: OptionsT, protocol: str) -> OptionsT:
        """`options` with every choice left to the evaluation protocol ("retrieval" or
        "probe") made for it, e.g. CoMM's `pair_views: auto`. The study resolves a variant's
        options through this before it tunes, builds or records them. Default: unchanged."""
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol: must be one of {list(PROTOCOLS)}, got {protocol!r}")
        return options

    @classmethod
    @abstractmethod
    def search_space(cls) -> dict[str, Distribution]:
        """What the tuner may vary for this method (training fields and option fields)."""

    @abstractmethod
    def encode(self, modality: str, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """(B, d_m) inputs (+ (B,) presence mask) -> (B, D) embeddings of one modality."""

    @abstractmethod
    def encode_query(self, batch: Batch, target: str) -> Query:
        """The context side of retrieval: everything but `target`, for B queries."""

    @abstractmethod
    def encode_candidates(self, target: str, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """(C, d_target) candidate inputs (+ (C,) presence mask; None = all present) ->
        (C, D') candidate representations. A missing candidate is encoded as the method
        encodes a missing modality in training, not from its zero-filled values."""

    @abstractmethod
    def score(self, target: str, query: Query, candidates: Tensor) -> Tensor:
        """(B, C) scores of every candidate for every query; higher = more likely."""

    @abstractmethod
    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Named loss terms; "loss" is the total that training minimises (it alone carries
        the graph; the other terms are detached, for logging)."""

    @abstractmethod
    def features(self, batch: Batch) -> Tensor:
        """(B, F) frozen features for the linear-probe protocol."""

    def param_groups(self, lr: float, weight_decay: float) -> list[dict[str, Any]]:
        """Optimizer parameter groups: weight decay on matrices only; biases, norms, the
        logit scale and learned embeddings (all < 2-D) are not decayed (open_clip's rule;
        a `Stacked` module's parameter is judged by one modality's copy). Override to give
        e.g. a gate its own lr."""
        return decay_groups(self.named_parameters(), lr, weight_decay, stacked_ids(self))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def context_of(self, target: str) -> tuple[str, ...]:
        """The modalities other than `target`, in modality order; an unknown target raises."""
        if target not in self.modalities:
            raise ValueError(f"target must be one of {list(self.modalities)}, got {target!r}")
        return tuple(m for m in self.modalities if m != target)


class Stacked(nn.Module):
    """A module whose own parameters (`parameters(recurse=False)`) each hold one copy per
    modality along dim 0: M same-shaped per-modality layers stored as one tensor and run as
    one batched pass (`robustlab.methods.stacked`). Rules that look at a parameter's shape
    (weight decay) look at one copy's."""


def stacked_ids(model: nn.Module) -> set[int]:
    """The ids of `model`'s parameters that belong to `Stacked` modules."""
    return {id(p) for m in model.modules() if isinstance(m, Stacked)
            for p in m.parameters(recurse=False)}


def decay_groups(
    named: Iterator[tuple[str, nn.Parameter]], lr: float, weight_decay: float,
    stacked: Collection[int] = frozenset(),
) -> list[dict[str, Any]]:
    """Two AdamW groups: >= 2-D weights decayed, the rest not; a parameter whose id is in
    `stacked` (`stacked_ids`) counts as one of its copies (its ndim − 1). Empty groups are
    dropped."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for _, p in named:
        if p.requires_grad:
            (decay if p.ndim - (id(p) in stacked) >= 2 else no_decay).append(p)
    groups = [
        {"params": decay, "lr": lr, "weight_decay": weight_decay},
        {"params": no_decay, "lr": lr, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def check_dims(dims: Mapping[str, int]) -> None:
    if len(dims) < 2:
        raise ValueError(f"dims: need at least 2 modalities, got {dict(dims)}")
    for m, d in dims.items():
        if not isinstance(d, int) or isinstance(d, bool) or d < 1:
            raise ValueError(f"dims[{m!r}]: must be a positive int, got {d!r}")


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Draw from the global CPU RNG seeded with `seed`, then restore it: module constructors
    only know the global RNG, and this keeps them from consuming (or depending on) it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def default_generator(generator: torch.Generator | None) -> torch.Generator:
    """`generator`, or a fresh CPU generator seeded 0 (deterministic, same draws each call)."""
    return generator if generator is not None else torch.Generator().manual_seed(0)


def options_from(cls: type[OptionsT], values: Mapping[str, Any], where: str = "") -> OptionsT:
    """`cls(**values)` with unknown keys reported by name, a "did you mean" and the YAML path
    `where` (e.g. "methods.gated_symile"). Validation errors of `cls` propagate."""
    fields = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    prefix = f"{where}." if where else ""
    for key in values:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            valid = ", ".join(fields)
            raise ValueError(
                f"{prefix}{key}: unknown option of {cls.__name__}{hint} (valid: {valid})"
            )
    return cls(**values)


def check_method_class(cls: object) -> None:
    """What makes a class usable as a method (built-in or plugin); a TypeError says which
    rule it breaks: a `Method` subclass, no abstract method left, a frozen dataclass `Options`
    whose every field has a valid default (a study variant may set none of them)."""
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise TypeError(f"{cls!r} is not a subclass of robustlab.methods.Method")
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        raise TypeError(f"{cls.__name__} does not implement the abstract method(s) "
                        f"{', '.join(missing)} of Method")
    options = getattr(cls, "Options", None)
    if not (isinstance(options, type) and dataclasses.is_dataclass(options)
            and options.__dataclass_params__.frozen):  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__}.Options must be a frozen dataclass, got {options!r}")
    no_default = [f.name for f in dataclasses.fields(options) if f.init
                  and f.default is dataclasses.MISSING
                  and f.default_factory is dataclasses.MISSING]
    if no_default:
        raise TypeError(f"{cls.__name__}.Options ({options.__name__}) has no default for "
                        f"{', '.join(no_default)}: every method option needs one")
    try:
        options()
    except (TypeError, ValueError) as err:
        raise TypeError(f"{options.__name__}() rejects its own defaults: {err}") from None


def _plugin_method(name: str, cls: Any) -> type[Method]:
    """The registry's check of a plugin: a valid method class, named by its entry point."""
    check_method_class(cls)
    own = cls.__dict__.get("name", name)
    if own != name:
        raise ValueError(f"{cls.__name__}.name is {own!r} but its entry point is {name!r}")
    cls.name = name
    return cls


#: The method registry: the built-ins (registered when `robustlab.methods` is imported) and
#: installed plugins (entry-point group `robustlab.methods`, imported on first lookup).
METHODS: Registry[type[Method]] = Registry("method", "robustlab.methods", _plugin_method)
MethodT = TypeVar("MethodT", bound=type[Method])


def register(name: str) -> Callable[[MethodT], MethodT]:
    """Class decorator: register a method under `name` (= its module name = its YAML key)."""

    def decorator(cls: MethodT) -> MethodT:
        cls.name = name
        METHODS.register(name)(cls)
        return cls

    return decorator
