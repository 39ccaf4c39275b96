"""The two evaluation protocols (DESIGN §4, §9): zero-shot retrieval and linear probe.

Both return one row per example of the evaluated split, keyed by `example_id`:

    example_id    int64    the split's stable id
    correct       bool     the true item ranked first
    rank          int64    1-based rank of the true item among the candidates (or classes)
    score_margin  float64  true item's score minus the best other score (> 0 iff a clear win)
    ... the split's metadata columns, plus `label` when the split has labels

These are the rows of `predictions.parquet`; the study runner adds method / seed / condition.

Ties. Scores within `TIE_RTOL` × (the largest finite |score| of the query's row) of the true
item's score count as tied with it: relative to the row's scale, so a model whose scores are
all tiny (normalised MIPs are ~1/D) is judged as finely as one whose scores are large. The
true item's position among its ties is drawn uniformly at random: with `g` items scoring
strictly higher and `t` others tied, `rank = 1 + g + k` with `k` uniform on `{0, …, t}`
(the position it would get under a uniformly random order of the tied items). The draws
come from a generator seeded by `seed`, one per example in split order, so the same seed
and split give the same ranks. A model that scores every candidate alike therefore ranks
at chance instead of "winning" by the candidates' order.

Class-level retrieval (`Task(match="label")`, Symile-M3's protocol). A retrieval is a hit
when the top-ranked candidate has the query's label (any item of the right class, not only
the query's own). The candidates are the same as for item matching (every item of the split,
or the true item + K-1 sampled); the dataset must have labels. Then
- `rank` is the 1-based position of the first candidate of the query's class in the ranked
  list: 1 + the number of other-class candidates ranked above the best-scoring candidate of
  the query's class (`correct` iff rank = 1);
- `score_margin` is the best score among the query's class minus the best score among the
  other classes (> 0 iff a clear win; +inf when every candidate has the query's class);
- ties use the same tolerance as above: with `g` other-class candidates strictly above the
  best same-class score, and `t_same` same-class and `t_other` other-class candidates tied
  with it, the order of the tied group is uniformly random, so `rank = 1 + g + k` with k
  the number of other-class items ahead of the first same-class one (drawn exactly: the
  first same-class item's uniform key is the minimum of t_same uniforms, and each
  other-class item lands ahead of it independently with that probability). With one
  same-class item tied this is item matching's uniform rule.
A query whose class has no candidate at all cannot be answered: `rank` = number of
candidates + 1, `score_margin` = -inf. Chance accuracy is the share of candidates of the
query's class (1/number of classes for balanced classes).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
import torch
from torch import Tensor

from robustlab.data.dataset import Split, TrimodalDataset
from robustlab.methods.base import Method

TIE_RTOL = 1e-6
SCORE_BUDGET = 1 << 24  # entries of one (queries, candidates) score block held at a time
ENCODE_CHUNK = 4096  # rows encoded per forward pass at evaluation
PROTOCOLS = ("retrieval", "probe")
MATCHES = ("item", "label")


@dataclass(frozen=True)
class Task:
    """What is evaluated (DESIGN §4).

    protocol:   "retrieval" (retrieve `target` from the other two) or "probe" (linear
                classifier on frozen features; `target` and `candidates` are unused)
    target:     the modality to retrieve
    candidates: "all" = every target item of the evaluated split, or the dataset's fixed
                bank for that target (e.g. all 2^d vectors of symile_xor); an int K = the
                true item + K-1 others sampled per query with a seeded generator
    match:      "item" = a hit is the query's own target item; "label" = a hit is any
                candidate with the query's label (class-level retrieval, module docstring;
                retrieval only, needs labels)
    """

    protocol: Literal["retrieval", "probe"] = "retrieval"
    target: str = "a"
    candidates: Literal["all"] | int = "all"
    match: Literal["item", "label"] = "item"

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"task.protocol: must be one of {PROTOCOLS}, got {self.protocol!r}")
        if not isinstance(self.target, str) or not self.target:
            raise ValueError(f"task.target: must be a modality name, got {self.target!r}")
        if self.match not in MATCHES:
            raise ValueError(f"task.match: must be one of {MATCHES}, got {self.match!r}")
        if self.match == "label" and self.protocol != "retrieval":
            raise ValueError(f"task.match: 'label' is a retrieval option; the "
                             f"{self.protocol} protocol always scores the label")
        k = self.candidates
        if k == "all":
            return
        if not isinstance(k, int) or isinstance(k, bool) or k < 2:
            raise ValueError(f"task.candidates: must be 'all' or an int >= 2, got {k!r}")


def evaluate(
    method: Method,
    dataset: TrimodalDataset,
    split: Split,
    *,
    task: Task,
    seed: int,
    probe_train: Split | None = None,
) -> pl.DataFrame:
    """Per-example predictions of `method` on `split` (see the module docstring).

    For retrieval `split` may be a perturbed copy of a dataset split (the study perturbs it
    first). For the probe, a linear classifier is fitted on the frozen features of
    `probe_train` (required) and applied to `split`.
    """
    was_training = method.training
    method.eval()
    try:
        with torch.no_grad():
            if task.protocol == "retrieval":
                rank, margin = _retrieval(method, dataset, split, task, seed)
            else:
                rank, margin = _probe(method, dataset, split, probe_train, seed)
    finally:
        method.train(was_training)
    return _frame(split, rank, margin)


def top1(frame: pl.DataFrame) -> float:
    """Share of rows whose true item ranked first."""
    return float(frame["correct"].mean())  # type: ignore[arg-type]


def balanced_accuracy(frame: pl.DataFrame) -> float:
    """Mean over true classes of the per-class accuracy (needs a `label` column)."""
    if "label" not in frame.columns:
        raise ValueError(f"balanced_accuracy needs a 'label' column (has {frame.columns})")
    per_class = frame.group_by("label").agg(pl.col("correct").mean())["correct"]
    return float(per_class.mean())  # type: ignore[arg-type]


# --- retrieval ---------------------------------------------------------------------------


def _retrieval(
    method: Method, dataset: TrimodalDataset, split: Split, task: Task, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    target = task.target
    if target not in dataset.modalities:
        raise ValueError(
            f"task.target: {target!r} is not a modality of dataset {dataset.name!r} "
            f"(valid: {list(dataset.modalities)})"
        )
    bank, bank_mask, true_row = _candidate_pool(dataset, split, target)
    cand_label = _candidate_labels(dataset, split, task)  # (P,) or None: item matching
    device = device_of(method)
    cand = _encode_candidates(method, target, bank, bank_mask, device)  # (P, D')
    sample_rng, tie_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    pool = bank.shape[0]
    chunk = min(ENCODE_CHUNK, max(1, SCORE_BUDGET // max(pool, 1)))  # queries per block
    ranks, margins = [], []
    for rows in _chunks(len(split), chunk):
        query = method.encode_query(split.to_batch(rows).to(device), target)
        scores = method.score(target, query, cand).float()  # (b, P)
        truth = torch.as_tensor(true_row[rows], device=scores.device)
        picks = None
        if task.candidates != "all":
            picks = _sample_candidates(sample_rng, true_row[rows], pool, int(task.candidates))
            scores = scores.gather(1, torch.as_tensor(picks, device=scores.device))  # (b, K)
            truth = torch.zeros_like(truth)  # the true item is column 0 of every pick
        if cand_label is None:
            rank, margin = rank_of_true(scores, truth, tie_rng)
        else:
            labels = cand_label[None, :] if picks is None else cand_label[picks]  # (b|1, C)
            query = np.asarray(split.label)[rows][:, None]  # (b, 1)
            same = torch.as_tensor(labels == query, device=scores.device)  # (b, C)
            rank, margin = rank_of_label(scores, same, tie_rng)
        ranks.append(rank)
        margins.append(margin)
    return np.concatenate(ranks), np.concatenate(margins)


def _candidate_pool(
    dataset: TrimodalDataset, split: Split, target: str
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(P, d_target) candidate inputs, their (P,) presence mask (None: a bank, all present)
    and, per example, the row of its true item."""
    if target not in dataset.candidate_banks:
        return split.features[target], split.masks[target], np.arange(len(split))
    if target not in split.candidate_id:
        raise ValueError(
            f"dataset {dataset.name!r} has a candidate bank for {target!r} but the split "
            f"has no candidate_id[{target!r}] naming each example's true row"
        )
    if not split.masks[target].all():
        raise ValueError(
            f"dataset {dataset.name!r} retrieves {target!r} among a fixed candidate bank, "
            f"but the split marks {target!r} missing for some examples: a perturbation of "
            f"the target cannot reach the bank (perturb the context modalities instead)"
        )
    return dataset.candidate_banks[target], None, np.asarray(split.candidate_id[target])


def _candidate_labels(dataset: TrimodalDataset, split: Split, task: Task) -> np.ndarray | None:
    """(P,) labels of the candidate pool for `match: label` (None for item matching)."""
    if task.match != "label":
        return None
    if split.label is None:
        raise ValueError(f"task.match: 'label' needs labels, and dataset {dataset.name!r} "
                         "has none (use match: item)")
    if task.target in dataset.candidate_banks:
        raise ValueError(f"task.match: 'label' needs the candidates' labels, and dataset "
                         f"{dataset.name!r} retrieves {task.target!r} from a fixed bank "
                         "without labels (use match: item)")
    return np.asarray(split.label)


def _sample_candidates(
    rng: np.random.Generator, truth: np.ndarray, pool: int, k: int
) -> np.ndarray:
    """(b, k) candidate rows per query: the true row first, then k-1 distinct others."""
    if k > pool:
        raise ValueError(f"task.candidates: K={k} exceeds the {pool} candidates available")
    picks = np.empty((truth.shape[0], k), dtype=np.int64)
    picks[:, 0] = truth
    for i, t in enumerate(truth):
        others = rng.choice(pool - 1, size=k - 1, replace=False)
        picks[i, 1:] = others + (others >= t)  # skip the true row
    return picks


def rank_of_true(
    scores: Tensor, truth: Tensor, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """1-based rank and score margin of column `truth[i]` in row i of `scores` (b, C).

    NaN scores count as -inf (a broken model must not look right). Ties are broken at
    random (module docstring)."""
    # NaN -> -inf; ±inf kept (nan_to_num's default would turn them into ±3.4e38, finite)
    scores = torch.nan_to_num(scores.float(), nan=-torch.inf, posinf=torch.inf,
                              neginf=-torch.inf)  # (b, C)
    s_true = scores.gather(1, truth[:, None])  # (b, 1)
    row_scale = torch.where(torch.isfinite(scores), scores.abs(), 0.0).amax(1, keepdim=True)
    tol = TIE_RTOL * torch.where(torch.isfinite(s_true), row_scale, 0.0)  # (b, 1)
    both_inf = torch.isinf(scores) & torch.isinf(s_true) & (scores == s_true)
    tied = ((scores - s_true).abs() <= tol) | both_inf  # (b, C), includes the true column
    greater = ((scores > s_true) & ~tied).sum(1)
    others = tied.sum(1) - 1
    u = torch.as_tensor(rng.random(scores.shape[0]), device=scores.device)
    k = torch.floor(u * (others + 1).double()).long()
    rank = 1 + greater + k
    rest = scores.scatter(1, truth[:, None], -torch.inf)
    margin = (s_true[:, 0] - rest.max(1).values).double()
    return rank.cpu().numpy().astype(np.int64), margin.cpu().numpy()


def rank_of_label(
    scores: Tensor, same: Tensor, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Class-level rank and margin (module docstring) of each row of `scores` (b, C), where
    `same` (b, C) marks the candidates of the query's class. NaN scores count as -inf."""
    scores = torch.nan_to_num(scores.float(), nan=-torch.inf, posinf=torch.inf,
                              neginf=-torch.inf)  # (b, C)
    same = same.expand_as(scores)
    best = torch.where(same, scores, -torch.inf).amax(1, keepdim=True)  # (b, 1)
    row_scale = torch.where(torch.isfinite(scores), scores.abs(), 0.0).amax(1, keepdim=True)
    tol = TIE_RTOL * torch.where(torch.isfinite(best), row_scale, 0.0)  # (b, 1)
    both_inf = torch.isinf(scores) & torch.isinf(best) & (scores == best)
    tied = ((scores - best).abs() <= tol) | both_inf  # (b, C)
    greater = ((scores > best) & ~tied & ~same).sum(1).cpu().numpy()
    t_same = (tied & same).sum(1).cpu().numpy()
    t_other = (tied & ~same).sum(1).cpu().numpy()
    # the first same-class item's key is the min of t_same uniforms: 1 - U^(1/t_same)
    u = rng.random(scores.shape[0])
    ahead = 1.0 - u ** (1.0 / np.maximum(t_same, 1))
    k = rng.binomial(t_other, ahead)
    rank = 1 + greater + k
    other_best = torch.where(same, -torch.inf, scores).amax(1)
    margin = (best[:, 0] - other_best).double().cpu().numpy()
    answerable = same.any(1).cpu().numpy()
    rank = np.where(answerable, rank, scores.shape[1] + 1).astype(np.int64)
    margin = np.where(answerable, margin, -np.inf)
    return rank, margin


# --- probe -------------------------------------------------------------------------------


def _probe(
    method: Method,
    dataset: TrimodalDataset,
    split: Split,
    probe_train: Split | None,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    if probe_train is None:
        raise ValueError("evaluate: the probe protocol needs probe_train (the split to fit on)")
    for name, part in (("probe_train", probe_train), ("split", split)):
        if part.label is None:
            raise ValueError(f"evaluate: {name} of dataset {dataset.name!r} has no labels")
    device = device_of(method)
    x_fit = features(method, probe_train, device)
    x_eval = features(method, split, device)
    # Imported here: scikit-learn costs ~2.5 s of CPU at import, paid by every Ray trial
    # worker, and only the probe protocol needs it.
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    clf.fit(x_fit, probe_train.label)
    classes = np.asarray(clf.classes_)
    labels = np.asarray(split.label)
    log_p = class_log_proba(clf, x_eval)  # (N, n_classes)
    # A class the probe never saw cannot be predicted: give it a column scoring -inf.
    log_p = torch.cat([log_p, torch.full((log_p.shape[0], 1), -torch.inf)], dim=1)
    col = np.searchsorted(classes, labels)
    seen = (col < classes.size) & (classes[np.minimum(col, classes.size - 1)] == labels)
    truth = torch.from_numpy(np.where(seen, col, classes.size).astype(np.int64))
    tie_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    return rank_of_true(log_p, truth, tie_rng)


def class_log_proba(clf: Any, x: np.ndarray) -> Tensor:
    """(N, K) float64 log class probabilities of a fitted logistic-regression probe, as the
    log-softmax of its logits. sklearn's `predict_log_proba` takes the log of a probability
    that has already rounded to 0 for a confident row, giving -inf: an infinite score margin,
    and a tie with the -inf column of an unseen class."""
    logits = np.asarray(clf.decision_function(x), dtype=np.float64)
    if logits.ndim == 1:  # two classes: the logit of classes_[1] against classes_[0]
        logits = np.stack([np.zeros_like(logits), logits], axis=1)  # (N, 2)
    return torch.log_softmax(torch.from_numpy(logits), dim=1)


def features(method: Method, split: Split, device: torch.device) -> np.ndarray:
    """(N, F) float64 frozen probe features of every row of `split`."""
    parts = [
        method.features(split.to_batch(rows).to(device)).float().cpu()
        for rows in _chunks(len(split), ENCODE_CHUNK)
    ]
    return torch.cat(parts).double().numpy()


# --- shared ------------------------------------------------------------------------------


def _encode_candidates(
    method: Method, target: str, bank: np.ndarray, mask: np.ndarray | None,
    device: torch.device,
) -> Tensor:
    parts = [
        method.encode_candidates(
            target, torch.as_tensor(bank[rows], device=device).float(),
            None if mask is None else torch.as_tensor(mask[rows], device=device),
        )
        for rows in _chunks(bank.shape[0], ENCODE_CHUNK)
    ]
    return torch.cat(parts)


def _chunks(n: int, size: int) -> Iterator[np.ndarray]:
    for start in range(0, n, size):
        yield np.arange(start, min(n, start + size))


def device_of(method: Method) -> torch.device:
    """The device of the method's parameters (cpu for a parameter-free method)."""
    param = next(method.parameters(), None)
    return torch.device("cpu") if param is None else param.device


def _frame(split: Split, rank: np.ndarray, margin: np.ndarray) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "example_id": pl.Series(split.example_id.astype(np.int64), dtype=pl.Int64),
            "correct": pl.Series(rank == 1, dtype=pl.Boolean),
            "rank": pl.Series(rank, dtype=pl.Int64),
            "score_margin": pl.Series(margin, dtype=pl.Float64),
        }
    )
    extra = [split.metadata[c] for c in split.metadata.columns if c not in frame.columns]
    if split.label is not None and "label" not in split.metadata.columns:
        extra.append(pl.Series("label", split.label.astype(np.int64)))
    return frame.with_columns(extra) if extra else frame
