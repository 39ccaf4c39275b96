"""Budget adequacy as the report shows it (docs/adequacy.md).

The study runner stores each variant's verdict in manifest.json (`methods.<variant>.adequacy`);
the report reads it back. A variant without a stored verdict (a folder written before they
existed) is judged here from the results files with the same rules
(`robustlab.stats.adequacy_frames`), the significant differences taken from the report's own
pairwise table; rules whose inputs such a folder lacks say "not assessed".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from robustlab.report.analysis import Analysis
from robustlab.report.chance import chance_level
from robustlab.report.inputs import ReportInputError, Results
from robustlab.results import MANIFEST_FILE
from robustlab.stats.adequacy import LABELS, Verdict
from robustlab.stats.adequacy_frames import (
    StudyFacts,
    assess_variant,
    clean_facts,
    clean_resolution,
)


@dataclass(frozen=True)
class Adequacy:
    """verdicts: by variant, in the report's method order (then any variant without
    predictions); recomputed: the variants judged here rather than read from the manifest."""

    verdicts: dict[str, Verdict]
    recomputed: tuple[str, ...]
    chance: dict[str, Any] | None


def adequacy(results: Results, analysis: Analysis) -> Adequacy:
    records = results.manifest.get("methods", {})
    names = [*results.methods, *sorted(set(records) - set(results.methods))]
    verdicts, recomputed = {}, []
    facts: StudyFacts | None = None
    for name in names:
        record = records.get(name, {})
        record = record if isinstance(record, dict) else {}
        if isinstance(record.get("adequacy"), dict):
            verdicts[name] = _stored(name, record["adequacy"], results)
            continue
        facts = facts or _facts(results, analysis)
        verdicts[name] = assess_variant(name, record, results.trials, facts)
        recomputed.append(name)
    return Adequacy(verdicts, tuple(recomputed), _chance(results))


def flag_labels(verdict: Verdict | None) -> list[str]:
    """The flagged rules of a verdict as the page names them ("under-trained", …)."""
    return [] if verdict is None else [LABELS[f.rule] for f in verdict.flagged]


def _stored(name: str, raw: dict[str, Any], results: Results) -> Verdict:
    try:
        return Verdict.from_json(name, raw)
    except (KeyError, TypeError, ValueError) as err:
        raise ReportInputError(f"{results.folder / MANIFEST_FILE}: methods.{name}.adequacy is "
                               f"not a budget-adequacy verdict ({err})") from err


def _chance(results: Results) -> dict[str, Any] | None:
    stored = results.manifest.get("adequacy", {})
    chance = stored.get("chance") if isinstance(stored, dict) else None
    return chance if isinstance(chance, dict) else None


def _facts(results: Results, analysis: Analysis) -> StudyFacts:
    study = results.study
    budget = study.get("budget", {}) if isinstance(study.get("budget"), dict) else {}
    accuracy, n = clean_facts(results.predictions)
    return StudyFacts(budget_epochs=int(budget.get("epochs", 0) or 0),
                      chance=_chance_level(results), seed_accuracy=accuracy, n_examples=n,
                      resolution=clean_resolution(analysis.pairwise))


def _chance_level(results: Results) -> float | None:
    """The report's one chance level (`robustlab.report.chance`): the stored one, else what
    the results files determine."""
    return chance_level(results).value


