"""The core math (DESIGN §4): MIP, Symile, CLIP, GRAM and TRIANGLE losses and scores, the
Gated Symile gate.

Plain differentiable torch functions and one `nn.Module`. Every `logit_scale` argument is
the already-exponentiated scale `exp(s)` (the method clamps `s` at log 100).
"""

from robustlab.core.clip import clip_loss, clip_scores, info_nce
from robustlab.core.gate import KeepWeights, ModalityGate
from robustlab.core.gated_loss import gated_symile_loss, gated_symile_target_losses
from robustlab.core.gram import (
    gram_anchor_losses,
    gram_logits,
    gram_loss,
    gram_scores,
    gram_volumes,
)
from robustlab.core.mip import mip, mip_scores
from robustlab.core.symile import symile_anchor_losses, symile_loss
from robustlab.core.triangle import (
    triangle_anchor_losses,
    triangle_areas,
    triangle_logits,
    triangle_loss,
    triangle_scores,
)

__all__ = [
    "KeepWeights",
    "ModalityGate",
    "clip_loss",
    "clip_scores",
    "gated_symile_loss",
    "gated_symile_target_losses",
    "gram_anchor_losses",
    "gram_logits",
    "gram_loss",
    "gram_scores",
    "gram_volumes",
    "info_nce",
    "mip",
    "mip_scores",
    "symile_anchor_losses",
    "symile_loss",
    "triangle_anchor_losses",
    "triangle_areas",
    "triangle_logits",
    "triangle_loss",
    "triangle_scores",
]
