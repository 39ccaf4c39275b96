"""The chance level of a study's accuracy, from the result files (for the effective-robustness
guard): what an uninformed predictor scores, or None with the reason when it is not derivable.

- probe: the majority-class share of `label` on the clean condition (a classifier that ignores
  its input reaches it; 1/#classes when the classes are balanced);
- retrieval, instance match: 1/C for C candidates — `task.candidates` when it is a number;
  with "all" the count is not in the results, so C is taken as the largest `rank` observed,
  a lower bound on C: 1/C is then an upper bound on chance, which errs toward withholding ER;
- retrieval with `task.match: label` (a hit when the retrieved item has the query's class):
  1/C + (1 − 1/C)·Σ_c p_c², p_c the class shares of the clean condition's queries (a random
  candidate other than the true one shares the query's class with probability Σ p_c² when
  the candidates follow the queries' class mix; the same C as above).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from robustlab.report.inputs import Results


@dataclass(frozen=True)
class Chance:
    """value: the chance accuracy in [0, 1], or None; how: one sentence saying where it came
    from (or why it is unknown), shown in the report."""

    value: float | None
    how: str


def chance_level(results: Results) -> Chance:
    """The study's chance accuracy: the level the study recorded in the manifest
    (`adequacy.chance`, computed from the dataset itself), else inferred from the results
    files as the module docstring says; never raises on odd manifests."""
    if (stored := _stored(results)) is not None:
        return stored
    task = results.study.get("task", {})
    task = task if isinstance(task, dict) else {}
    pred = _clean(results.predictions)
    protocol = task.get("protocol")
    if protocol == "probe":
        return _probe(pred)
    if protocol != "retrieval":
        return Chance(None, f"unknown task protocol {protocol!r} in the manifest")
    k = task.get("candidates", "all")
    if isinstance(k, int) and not isinstance(k, bool) and k >= 2:
        count, said = k, f"{k} candidates per query (task.candidates)"
    else:
        count = int(results.predictions["rank"].max())  # type: ignore[arg-type]
        said = (f"at least {count} candidates (the largest rank observed; the count itself is "
                "not recorded, so this overstates chance a little)")
    if task.get("match", "instance") != "label":
        return Chance(1.0 / count, f"retrieval among {said}: chance = 1/{count}")
    shares = _shares(pred)
    if shares is None:
        return Chance(None, "class-level retrieval, but predictions have no label column")
    s = float((shares**2).sum())
    value = 1.0 / count + (1.0 - 1.0 / count) * s
    return Chance(value, f"class-level retrieval among {said}, Σ(class share)² = {s:.3g}")


def _stored(results: Results) -> Chance | None:
    adequacy = results.manifest.get("adequacy")
    chance = adequacy.get("chance") if isinstance(adequacy, dict) else None
    if not isinstance(chance, dict):
        return None
    level, basis = chance.get("level"), chance.get("basis")
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 <= level <= 1:
        return None
    return Chance(float(level), f"{basis} (recorded by the study)" if basis else
                  "recorded by the study")


def _clean(pred: pl.DataFrame) -> pl.DataFrame:
    """One method and seed of the clean condition (the examples once), else every row."""
    clean = pred.filter(pl.col("cond_op") == "clean")
    if clean.height == 0:
        return pred
    first = clean.row(0, named=True)
    return clean.filter((pl.col("method") == first["method"]) & (pl.col("seed") == first["seed"]))


def _shares(pred: pl.DataFrame) -> pl.Series | None:
    if "label" not in pred.columns or pred.height == 0:
        return None
    counts = pred["label"].value_counts()["count"]
    return counts / counts.sum()


def _probe(pred: pl.DataFrame) -> Chance:
    shares = _shares(pred)
    if shares is None:
        return Chance(None, "linear probe, but predictions have no label column")
    return Chance(float(shares.max()),  # type: ignore[arg-type]
                  f"linear probe over {shares.len()} classes: the majority-class share")
