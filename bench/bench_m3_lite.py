"""Symile-M3's headline on `m3_lite`: CLIP vs Symile vs Gated Symile, w = 2 and w = 5.

Retrieve the image from (audio, text) among all test images, a hit when the retrieved
image's class is the query's (`Task(match="label")`, chance 1/10); per (w, seed, method):
- `clean`:      test top-1,
- `no_audio`:   test top-1 with the audio missing for every test example (the language is
                gone, so the best possible is the text alone: 1/w),
- `no_text`:    test top-1 with the text missing (the audio says nothing about the class:
                the best possible is 1/10).
First, model-free linear probes (ridge) of the dataset's structure at w = 2, 5, 10.
The table is the mean (± std) over seeds. Training settings are fixed up front (below), the
same for every method and w; nothing is tuned per cell. Runs go to 2 worker processes (one
torch thread each) on the 2-core machine.

    .venv/bin/python -m bench m3_lite
"""

from __future__ import annotations

import time
from itertools import product

import numpy as np
import polars as pl

from bench._workers import sweep

WAYS = {2: 5000, 5: 20000}  # w -> n (80/10/10 split), the prototype's sizes
SEEDS = (0, 1, 2)
METHODS = ("clip", "symile", "gated_symile")
EPOCHS = 20
BATCH = 256
LR = 2e-3
DIM = 64  # encoder: mlp, depth 2, hidden 128, output 64


def run_one(w: int, seed: int, method: str) -> dict[str, float | int | str]:
    """Train one method on m3_lite(w) with `seed`; its test figures."""
    from perturbations import OPERATORS
    from robustlab.data import DATASETS
    from robustlab.data.perturb import perturb_split
    from robustlab.evaluate import Task, evaluate, top1
    from robustlab.methods import ENCODERS, METHODS
    from robustlab.train import TrainConfig, train

    start = time.perf_counter()
    data = DATASETS.get("m3_lite")(w=w, n=WAYS[w]).build(seed)
    cls = METHODS.get(method)
    encoder = ENCODERS.get("mlp")(dim=DIM, depth=2, hidden=2 * DIM)
    model = cls.build(cls.Options(), data.dims, encoder, seed=seed)
    task = Task(target="image", match="label")
    config = TrainConfig(epochs=EPOCHS, batch_size=BATCH, lr=LR, device="cpu", seed=seed)
    result = train(model, data, config, task=task)
    test = data.split("test")
    row: dict[str, float | int | str] = {"w": w, "seed": seed, "method": method,
                                         "best_epoch": result.best_epoch}
    row["clean"] = top1(evaluate(model, data, test, task=task, seed=seed))
    for name, modality in (("no_audio", "audio"), ("no_text", "text")):
        op = OPERATORS.get("missing")(modality=modality, fraction=1.0)
        gone, _ = perturb_split(test, op, seed)
        row[name] = top1(evaluate(model, data, gone, task=task, seed=seed))
    row["wall_s"] = time.perf_counter() - start
    return row


def _cell(values: np.ndarray) -> str:
    return f"{values.mean():.3f}±{values.std():.3f}"


def _table(runs: pl.DataFrame) -> list[dict[str, float]]:
    rows = []
    print(f"{'w':>3} {'method':>13} | {'clean':>11} {'no audio':>11} {'no text':>11} | "
          f"{'1/w':>5} | {'wall s':>6}")
    for w, method in product(WAYS, METHODS):
        mine = runs.filter((pl.col("w") == w) & (pl.col("method") == method))
        cols = {k: mine[k].to_numpy() for k in ("clean", "no_audio", "no_text", "wall_s")}
        print(f"{w:>3} {method:>13} | {_cell(cols['clean'])} {_cell(cols['no_audio'])} "
              f"{_cell(cols['no_text'])} | {1 / w:>5.3f} | {cols['wall_s'].mean():>6.0f}")
        rows.append({"w": w, "method": method,
                     **{k: float(v.mean()) for k, v in cols.items()}})
    return rows


def probes(n: int = 20000, seed: int = 0) -> list[dict[str, float | int]]:
    """The dataset's structure, model-free: test accuracy of a linear classifier (ridge) on
    one modality's features for the language or the class, per w."""
    from sklearn.linear_model import RidgeClassifier

    from robustlab.data import DATASETS

    rows: list[dict[str, float | int]] = []
    print(f"linear probes (ridge), n = {n}: {'w':>3} | language<-audio  class<-audio  "
          "class<-text  class<-image | 1/w")
    for w in (2, 5, 10):
        data = DATASETS.get("m3_lite")(w=w, n=n).build(seed)
        fit, test = data.split("train"), data.split("test")
        row: dict[str, float | int] = {"w": w}
        for name, modality, column in (("language_from_audio", "audio", "language"),
                                       ("class_from_audio", "audio", "class"),
                                       ("class_from_text", "text", "class"),
                                       ("class_from_image", "image", "class")):
            clf = RidgeClassifier(alpha=1.0).fit(fit.features[modality],
                                                 fit.metadata[column].to_numpy())
            row[name] = float((clf.predict(test.features[modality])
                               == test.metadata[column].to_numpy()).mean())
        print(f"{'':>37}{w:>3} | {row['language_from_audio']:>15.3f} "
              f"{row['class_from_audio']:>13.3f} {row['class_from_text']:>12.3f} "
              f"{row['class_from_image']:>12.3f} | {1 / w:.3f}")
        rows.append(row)
    return rows


def main() -> dict[str, object]:
    structure = probes()
    return {"probes": structure, **sweep(
        run_one, list(product(WAYS, SEEDS, METHODS)),
        describe=f"m3_lite, n = {WAYS} (w -> n), {EPOCHS} epochs, batch {BATCH}, lr {LR}, "
                 f"mlp dim {DIM}; class-level test top-1 retrieving the image from (audio, "
                 f"text), mean±std over seeds {list(SEEDS)}; chance 0.1",
        table=_table,
        settings={"n": WAYS, "epochs": EPOCHS, "batch": BATCH, "lr": LR, "dim": DIM,
                  "seeds": list(SEEDS)},
    )}
