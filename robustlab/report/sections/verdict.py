"""Section 1: the verdict — the study's declared questions answered, one line per contrast.

Each declared contrast (`analysis.verdicts`, the confirmatory family) is better, worse,
equivalent within ±δ, or undecided (robustlab/stats/verdicts.py). Per question the page lists
the differences first, then the equivalences, then the undecided contrasts with what would
decide them: the minimum detectable effect, and the seeds or test examples at which the
contrast becomes decidable (robustlab/stats/planning.py). "Undecided" never reads as "equal".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from robustlab.report.adequacy import adequacy
from robustlab.report.analysis import Analysis
from robustlab.report.inputs import Results
from robustlab.report.sections.base import Section, json_safe
from robustlab.report.sections.overview import adequacy_mark
from robustlab.report.template import pp

SPENDING_NAMES = {"obrien_fleming": "O'Brien–Fleming-type", "pocock": "Pocock-type"}
GROUPS = (("differences", ("better", "worse")), ("equivalences", ("equivalent",)),
          ("undecided", ("undecided",)), ("without data", ("no data",)))


def build(results: Results, analysis: Analysis) -> Section:
    marks = {m: adequacy_mark(v) for m, v in adequacy(results, analysis).verdicts.items()}
    vt = analysis.verdicts
    rows = [_row(r, vt.margin, vt.alpha) for r in vt.table.to_dicts()]  # inf kept here
    counts = {v: sum(r["verdict"] == v for r in rows)
              for v in ("better", "worse", "equivalent", "undecided", "no data")}
    sequential = _sequential(analysis)
    return Section(
        id="verdict", title="Verdict",
        view={"questions": _questions(rows), "rows": rows, "counts": counts, "marks": marks,
              "rule": rule(analysis), "pooling": pooling_note(analysis),
              "declared": analysis.settings.declared, "facts": _facts(results),
              "flagged": [m for m in results.methods if (marks.get(m) or {}).get("flagged")],
              "hidden": _hidden_count(analysis), "sequential": sequential},
        data={"contrasts": json_safe([{k: v for k, v in r.items() if k != "shares"}
                                      for r in rows]), "family_size": vt.family_size,
              "alpha": vt.alpha, "margin": vt.margin},
    )


def _row(r: dict[str, Any], margin: float, alpha: float) -> dict[str, Any]:
    """One contrast for the page: the record plus its sentence and adjusted p-values."""
    out = dict(r)
    out["p_diff_adj"] = _adjusted(r["p_diff"], r["level"], alpha)
    out["p_equiv_adj"] = _adjusted(r["p_equiv"], r["level"], alpha)
    out["sentence"] = sentence(r, margin) + _when(r)
    out["decide"] = what_would_decide(r) if r["verdict"] == "undecided" else ""
    total = sum(r[k] or 0.0 for k in ("var_seed", "var_example", "var_interaction"))
    out["shares"] = {k: (r[f"var_{k}"] or 0.0) / total if total > 0 else None
                     for k in ("seed", "example", "interaction")}
    return out


def _adjusted(p: float | None, level: float, alpha: float) -> float | None:
    """p on the family's scale: p·α/α′ (Bonferroni's m·p), capped at 1; compare with α."""
    if p is None or not level:
        return None
    return min(1.0, p * alpha / level)


def sentence(r: Mapping[str, Any], margin: float) -> str:
    """"A vs B at C: better, +17.0 points [+9.1, +24.9]" (the interval of the verdict)."""
    head = f"{r['method_a']} vs {r['method_b']} at {r['condition']}"
    verdict = r["verdict"]
    if verdict == "no data":
        return f"{head}: no predictions for one of the two variants"
    if verdict == "equivalent":
        return (f"{head}: equivalent within ±{100 * margin:.1f} points, {pp(r['delta'])} "
                f"[{pp(r['eq_low'])}, {pp(r['eq_high'])}]")
    text = (f"{head}: {verdict}, {pp(r['delta'])} points "
            f"[{pp(r['ci_low'])}, {pp(r['ci_high'])}]")
    if verdict != "undecided" and r.get("within_margin"):
        text += f", and smaller than the ±{100 * margin:.1f}-point margin"
    return text


def _when(r: Mapping[str, Any]) -> str:
    """" (look 2, 5 seeds)" for a sequential verdict; "" for a fixed design."""
    if "look" not in r:
        return ""
    seeds = min(r.get("seeds_a") or 0, r.get("seeds_b") or 0)
    if r.get("look"):
        return f" (decided at look {r['look']}, {seeds} seeds)"
    return f" (at the cap, {seeds} seeds)" if r["verdict"] == "undecided" else ""


def _sequential(analysis: Analysis) -> dict[str, Any] | None:
    """The looks of a sequential final phase, for the page (None for a fixed design)."""
    outcome = analysis.sequential
    if outcome is None:
        return None
    diff, equiv = outcome.design.bounds(analysis.verdicts.alpha / max(outcome.family_size, 1)
                                        if analysis.verdicts.family_error == "fwer"
                                        else analysis.verdicts.alpha)
    looks = [{"look": look.number, "seeds": look.seeds, "decided": len(look.decided),
              "undecided": look.undecided, "diff_level": float(diff.nominal[look.number - 1]),
              "equiv_level": float(equiv.nominal[look.number - 1]),
              "trained": sum(len(s) for s in look.variant_seeds.values())}
             for look in outcome.looks]
    d = outcome.design
    return {"looks": looks, "spending": SPENDING_NAMES.get(d.spending, d.spending),
            "max_seeds": d.max_seeds, "step": d.step, "initial": len(d.initial),
            "pending": bool(outcome.pending),
            "trained": looks[-1]["trained"] if looks else 0,
            "fixed": d.max_seeds * len(outcome.looks[-1].variant_seeds) if looks else 0}


def _count(x: float | None, unit: str) -> str | None:
    if x is None or not math.isfinite(x):
        return None
    return f"≈ {int(x):,} {unit}"


def _unknown(x: float | None) -> bool:
    return x is None or math.isnan(x)


def _detectable(mde: float | None) -> str:
    """The MDE as words. An accuracy difference lies within ±100 points, so an MDE beyond
    that (a variant whose seeds scatter from chance to perfect, at few seeds) means no
    difference at all would be called with 80 % power: say that, not "911 points"."""
    if mde is None or math.isnan(mde):
        return ""
    if mde >= 1.0:
        return "no difference, however large, is detectable at 80 % power with these seeds"
    return f"detectable at 80 % power: {pp(mde)[1:]} points"


def what_would_decide(r: Mapping[str, Any]) -> str:
    """The MDE and the design at which the contrast would be decided (planning.py)."""
    head = _detectable(r.get("mde"))
    seeds, examples = r.get("seeds_needed"), r.get("examples_needed")
    if _unknown(seeds) and _unknown(examples):
        return (f"{head}; a variant has one seed, so its seed variance and what more seeds "
                "would do are unknown").lstrip("; ")
    s = _count(seeds, "seeds per variant")
    e = _count(examples, "test examples")
    if s and e:
        plan = f"decided with {s}, or with {e} at the current seeds"
    elif s:
        plan = f"decided with {s} (a larger test split alone would not)"
    elif e:
        plan = f"decided with {e} (more seeds alone would not)"
    else:
        floor_s = _count(r.get("seeds_floor"), "seeds per variant") or "more seeds"
        floor_e = _count(r.get("examples_floor"), "test examples") or "a larger test split"
        plan = (f"decided only with more seeds and a larger test split together: at least "
                f"{floor_s} and {floor_e}")
    lever = ("more seeds: the training runs dominate its variance" if r.get("lever") == "seeds"
             else "a larger test split: the test examples dominate its variance")
    return f"{head}; {plan}; the lever that helps most: {lever}"


def _questions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per declared question (first appearance order): its rows in the four groups."""
    order: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        for q in r["questions"] or [r["question"]]:
            order.setdefault(q, []).append(r)
    return [{"question": q, "n": len(members),
             "groups": [{"name": name, "rows": [r for r in members if r["verdict"] in kinds]}
                        for name, kinds in GROUPS]}
            for q, members in order.items()]


def rule(analysis: Analysis) -> str:
    """The decision rule, in words."""
    vt, s = analysis.verdicts, analysis.settings
    m = vt.family_size
    source = ("the study's declared contrasts" if s.declared else
              "each variant against the study's first (the default: the study declares no "
              "contrasts)")
    level = (f"each at α′ = α/{m} = {vt.alpha / max(m, 1):.2g} (Bonferroni: family-wise error "
             f"≤ α = {vt.alpha:g} over every kind of claim)" if vt.family_error == "fwer" else
             f"each at α = {vt.alpha:g}, uncorrected (study setting correction: none)")
    return (f"Confirmatory family: {m} contrast{'s' if m != 1 else ''}, {source}; {level}. "
            f"Better / worse: the (1 − α′) interval of Δ excludes 0. Equivalent: the "
            f"(1 − 2α′) interval lies inside ±{100 * vt.margin:.1f} points (two one-sided "
            "tests). Undecided: neither — it does not mean equal. Δ = accuracy of A − B in "
            "points on the same test examples; its variance has three parts, training seeds, "
            "test examples and their interaction, all in the test (docs/statistics.md).")


def pooling_note(analysis: Analysis) -> str:
    """What was pooled and the assumption it rests on."""
    vt, s = analysis.verdicts, analysis.settings
    if not s.pool_seeds:
        return ("Seed variances are each variant's own (study setting seed_variance: "
                "separate): with 3 seeds each rests on 2 degrees of freedom.")
    p = vt.pooled
    if p is None:
        return ("Seed variances are each variant's own: too few variants with several seeds, "
                "or variances too unlike each other, to pool.")
    left = (f"; {p.outliers} seed variance{'s' if p.outliers != 1 else ''} (a variant in a "
            "condition) above the pool's centre kept their own" if p.outliers else "")
    return (f"Seed variances are pooled across {p.blocks} variants (empirical Bayes on the "
            f"probit scale): the pool adds {p.prior_df:.1f} degrees of freedom to each "
            f"contrast's seed variance{left}. The assumption: training-seed variability, "
            "measured on the probit scale, differs between variants no more than the data "
            "show; the pool's size is estimated from that spread, and its error rate under "
            "violations is measured (docs/statistics.md).")


def _facts(results: Results) -> list[str]:
    pred = results.predictions
    n = pred.select(pl.col("example_id").n_unique()).item()
    seeds = sorted(pred["seed"].unique().to_list())
    facts = [f"{len(results.methods)} methods", f"{pred['condition'].n_unique()} conditions",
             f"{n:,} test examples", f"seeds {', '.join(map(str, seeds))}"]
    if results.unscored:
        facts.append(f"{results.unscored:,} queries not scored (their target is missing in "
                     "the data)")
    return facts


def _hidden_count(analysis: Analysis) -> Mapping[str, Any]:
    frame = analysis.hidden
    if frame is None:
        return {"searched": False, "findings": 0, "methods": []}
    hidden = frame.filter(pl.col("kind") == "hidden_failure")
    return {"searched": True, "findings": hidden["finding"].n_unique(),
            "methods": hidden["focal_method"].unique(maintain_order=True).to_list()}
