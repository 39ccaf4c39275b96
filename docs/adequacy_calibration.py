"""How often the budget-adequacy rules fire on synthetic histories (docs/adequacy.md).

    .venv/bin/python docs/adequacy_calibration.py

Validation curves are 0.5 + step·epoch + N(0, 0.01²) noise (one accuracy point); tuning
scores are 8 exchangeable trials N(0.8, sd²) — a search on a plateau, whose best lands
anywhere. Seeded: the same numbers every run.
"""

from __future__ import annotations

import numpy as np

from robustlab.stats.adequacy import Curve, check_curve, tuning_not_converged, under_trained


def rising_rate(rng: np.random.Generator, epochs: int, step: float, n: int) -> float:
    """Share of curves 0.5 + step·t + N(0, 0.01²) that `check_curve` calls rising."""
    calls = [check_curve(Curve("c", tuple(0.5 + step * np.arange(epochs)
                                          + rng.normal(0, 0.01, epochs))))
             for _ in range(n)]
    return float(np.mean([c.rising for c in calls if c is not None]))


def main() -> None:
    rng = np.random.default_rng(0)
    for epochs in (6, 12, 20):
        print(f"{epochs} epochs: flat {rising_rate(rng, epochs, 0.0, 20000):.3f}, "
              f"+1 pt/epoch {rising_rate(rng, epochs, 0.01, 5000):.3f}, "
              f"+2 pt/epoch {rising_rate(rng, epochs, 0.02, 5000):.3f}")
    flat4 = np.mean([under_trained([Curve(str(i), tuple(0.5 + rng.normal(0, 0.01, 12)))
                                    for i in range(4)], 12).flagged for _ in range(5000)])
    print(f"variant (4 flat curves, 12 epochs): {flat4:.3f}")
    for sd in (0.005, 0.01, 0.02):
        p = np.mean([tuning_not_converged(list(0.8 + rng.normal(0, sd, 8))).flagged
                     for _ in range(5000)])
        print(f"tuning, 8 exchangeable trials, score SD {sd}: flagged {p:.3f}")


if __name__ == "__main__":
    main()
