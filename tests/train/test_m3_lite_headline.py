"""Symile-M3's headline on `m3_lite` at a size that trains in seconds (w = 2).

The image's class is determined by the audio's language and the text together; each pair
alone leaves it at 1/w (text) or 1/10 (audio). Pairwise CLIP therefore cannot exceed 1/w,
Symile's three-way product can. Full-scale: `python -m bench m3_lite` (w = 2 and 5, 3 seeds,
with audio or text missing at test time). Settings were fixed before the assertions were
written and are the same for both methods.
"""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from perturbations import OPERATORS
from robustlab.data import DATASETS
from robustlab.data.perturb import perturb_split
from robustlab.evaluate import Task, evaluate
from robustlab.train import TrainConfig, train

from .conftest import Builder

pytestmark = pytest.mark.slow

W = 2


def test_symile_uses_language_and_text_where_clip_stays_at_1_over_w(build: Builder) -> None:
    data = DATASETS.get("m3_lite")(w=W, n=3000).build(0)
    task = Task(target="image", match="label")
    config = TrainConfig(epochs=8, batch_size=128, lr=3e-3, device="cpu", seed=0)
    test = data.split("test")
    no_audio, _ = perturb_split(test, OPERATORS.get("missing")(modality="audio", fraction=1.0),
                                seed=0)
    hits = {}
    for name in ("clip", "symile"):
        method = build(name, data, dim=32)
        train(method, data, config, task=task)
        hits[name] = int(evaluate(method, data, test, task=task, seed=0)["correct"].sum())
        hits[f"{name}_no_audio"] = int(
            evaluate(method, data, no_audio, task=task, seed=0)["correct"].sum())
    n = len(test)

    def above_1_over_w(k: int) -> float:  # p-value of "accuracy > 1/w"
        return binomtest(k, n, 1 / W, alternative="greater").pvalue

    assert above_1_over_w(hits["symile"]) < 1e-6, hits  # far above what pairs can give
    assert hits["symile"] / n > hits["clip"] / n + 0.15, hits
    assert above_1_over_w(hits["clip"]) > 1e-3, hits  # CLIP: not above 1/w
    # without the audio no method can know the language: back to the text alone, 1/w
    assert above_1_over_w(hits["symile_no_audio"]) > 1e-3, hits
