"""shift: misalign a sequence-shaped modality in time by a severity-dependent lag."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations.base import OPERATORS, SeverityOperator, row_blocks
from perturbations.hashing import integers


@OPERATORS.register("shift")
@dataclass(frozen=True, kw_only=True)
class Shift(SeverityOperator):
    """Each row is read as (channels, T) with T = d / channels and shifted along T.

    The lag is max(1, round(p(severity) · T)) steps, forward or backward (50/50 per example);
    vacated steps are zero-filled (a lag, not a rotation: content leaves the window).
    """

    name: ClassVar[str] = "shift"
    # severity -> lag as a share p of the sequence length T
    severities: ClassVar[dict[int, float]] = {1: 0.05, 2: 0.1, 3: 0.2, 4: 0.3, 5: 0.5}

    channels: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.channels, bool) or not isinstance(self.channels, int) \
                or self.channels < 1:
            raise ValueError(f"shift.channels: must be an integer >= 1, got {self.channels!r}")

    def lag(self, steps: int) -> int:
        return max(1, round(self.amount * steps))

    def perturb_rows(self, x: np.ndarray, mask: np.ndarray, rows: np.ndarray,
                     keys: np.ndarray) -> None:
        n, d = x.shape
        if d % self.channels:
            raise ValueError(f"shift.channels: width {d} of modality {self.modality!r} is not "
                             f"divisible by channels={self.channels}")
        steps = d // self.channels
        lag = self.lag(steps)
        t = np.arange(steps)
        for block in row_blocks(rows, n):
            part = x[block].reshape(-1, self.channels, steps)  # (b, C, T)
            sign = integers(keys[block], 1, 2) * 2 - 1  # (b, 1) in {-1, +1}
            source = t[None, :] - sign * lag  # (b, T): out[t] = in[t - lag·sign]
            valid = (source >= 0) & (source < steps)
            gathered = np.take_along_axis(part, np.clip(source, 0, steps - 1)[:, None, :], 2)
            x[block] = np.where(valid[:, None, :], gathered, 0).reshape(-1, d).astype(x.dtype)
