"""Gated Symile ("Hidden in the Multiplicative Interaction", arXiv 2604.05834; reference code
TillmannRheude/gated_symile).

Symile's embeddings plus `robustlab.core.ModalityGate`: when scoring candidate c of target t,
each context embedding is pulled toward a neutral direction by α(1 − w_{t,m}), with w from the
per-candidate gate (and a NULL mass), and the score is the MIP of c with the gated context
(DESIGN §4). Training: for each target, the whole batch (`num_negatives=None`) or K sampled
negatives per query (capped at the B − 1 other rows, as the reference) scored with the gate;
cross-entropy with the positive; mean over targets.

Gate initialisation follows the reference's configs (`config/modelname/*.yaml`: `gate_temp:
0.7`, `gate_strength_init: -3.0`, `gate_d_k: 256`), not its gate class's defaults (1.0, −6,
256): `gate_temp_init` is the value whose log starts log_temp (τ = softplus(log_temp) + 0.1,
so τ ≈ 0.63 at 0.7), `gate_strength_init` the logit of the gate strength α (σ(−3) ≈ 0.05:
the gate starts weak but on; σ(−6) ≈ 0.0025 left it practically off). They are options, not
searched: every variant of a study gets the same number of trials, and two more search
dimensions would spread a gated variant's few trials thinner than any other method's.

The ablation switches are options: `neutral`, `use_null`, `gate_type`, `mode`,
`hard_missing` (our extension: w = 0 for a missing context modality). Gate parameters get
their own learning rate (`gate_lr_mult` × lr) and no weight decay. The learnable log logit
scale is clamped at log(100).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from robustlab.core import ModalityGate, gated_symile_target_losses
from robustlab.data.batch import Batch
from robustlab.methods.base import (
    COMMON_SEARCH_SPACE,
    EncoderOptions,
    Query,
    decay_groups,
    default_generator,
    register,
    stacked_ids,
)
from robustlab.methods.clip import LOGIT_SCALE_INIT_RANGE
from robustlab.methods.common import (
    DEFAULT_LOG_SCALE,
    LOG_SCALE_MAX,
    EmbeddingMethod,
    check,
    check_bool,
    check_choice,
    check_float,
    check_int,
    mean_of_terms,
)
from robustlab.search_space import Distribution, FloatRange


@dataclass(frozen=True)
class GatedSymileOptions:
    """neutral: learned | frozen | ones | none; use_null: the NULL option of the gate;
    gate_type: sigmoid | softmax; mode: attention (per candidate) | matrix (learned,
    candidate-independent); hard_missing: w = 0 for missing context; num_negatives: K sampled
    negatives per query (at most B − 1 are drawn), or None for the whole batch; gate_lr_mult:
    gate lr / base lr; key_dim: gate query/key width; gate_temp_init: initial gate
    temperature (the reference's `gate_temp`); gate_strength_init: initial logit of the gate
    strength α; normalize, logit_scale_init: as Symile."""

    neutral: Literal["learned", "frozen", "ones", "none"] = "learned"
    use_null: bool = True
    gate_type: Literal["sigmoid", "softmax"] = "sigmoid"
    mode: Literal["attention", "matrix"] = "attention"
    hard_missing: bool = False
    num_negatives: int | None = None
    gate_lr_mult: float = 1.0
    key_dim: int = 256
    gate_temp_init: float = 0.7
    gate_strength_init: float = -3.0
    normalize: bool = True
    logit_scale_init: float = DEFAULT_LOG_SCALE

    def __post_init__(self) -> None:
        check_choice(self, "neutral", ("learned", "frozen", "ones", "none"))
        check_bool(self, "use_null")
        check_choice(self, "gate_type", ("sigmoid", "softmax"))
        check_choice(self, "mode", ("attention", "matrix"))
        check_bool(self, "hard_missing")
        k = self.num_negatives
        check(self, "num_negatives", k is None or (type(k) is int and k >= 1),
              "null (the whole batch) or an int >= 1")
        check_float(self, "gate_lr_mult", 0.0, 1e3, low_open=True)
        check_int(self, "key_dim", 1)
        check_float(self, "gate_temp_init", 0.0, 100.0, low_open=True)
        check_float(self, "gate_strength_init", -20.0, 20.0)
        check_bool(self, "normalize")
        check_float(self, "logit_scale_init", -10.0, LOG_SCALE_MAX)


@register("gated_symile")
class GatedSymile(EmbeddingMethod):
    Options = GatedSymileOptions

    def __init__(
        self, options: GatedSymileOptions, dims: Mapping[str, int], encoder: EncoderOptions
    ):
        super().__init__(dims, encoder, normalize=options.normalize,
                         logit_scale_init=options.logit_scale_init)
        self.options = options
        o = options
        gate_seed = int(torch.randint(0, 2**31 - 1, ()))  # from `build`'s seeded RNG
        self.gate = ModalityGate(
            len(dims), encoder.dim, key_dim=o.key_dim, neutral=o.neutral, use_null=o.use_null,
            gate_type=o.gate_type, mode=o.mode, hard_missing=o.hard_missing,
            temperature_init=o.gate_temp_init, strength_init=o.gate_strength_init, seed=gate_seed,
        )

    @classmethod
    def search_space(cls) -> dict[str, Distribution]:
        return {
            **COMMON_SEARCH_SPACE,
            "logit_scale_init": LOGIT_SCALE_INIT_RANGE,
            "gate_lr_mult": FloatRange(0.1, 10.0, log=True),
        }

    def param_groups(self, lr: float, weight_decay: float) -> list[dict[str, Any]]:
        """The gate: lr × gate_lr_mult, no weight decay; the rest: the default groups."""
        gate = list(self.gate.gate_parameters())
        ids = {id(p) for p in gate}
        rest = ((n, p) for n, p in self.named_parameters() if id(p) not in ids)
        groups = decay_groups(rest, lr, weight_decay, stacked_ids(self))
        if gate:
            groups.append({"params": gate, "lr": lr * self.options.gate_lr_mult,
                           "weight_decay": 0.0})
        return groups

    def score(self, target: str, query: Query, candidates: Tensor) -> Tensor:
        context = self.context_of(target)
        return self.gate.score(  # (B, C), the gate recomputed per candidate
            self.modalities.index(target), [query[m] for m in context], candidates,
            context_mask=[query[f"mask:{m}"] for m in context],
        )

    def loss(self, batch: Batch, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        g = default_generator(generator)
        losses = gated_symile_target_losses(
            self.gate, self.embed_batch(batch, g), self.logit_scale(),
            num_negatives=self.options.num_negatives, generator=g,
            masks=[batch.mask[m] for m in self.modalities],
        )
        # "loss" = core.gated_symile_loss; one named term per target modality
        return mean_of_terms({f"target_{m}": v for m, v in zip(self.modalities, losses,
                                                               strict=True)})
