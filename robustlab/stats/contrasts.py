"""Declared contrasts: the study's own questions, resolved to (a, b, condition) triples.

A study states what it wants to know in `report.contrasts` (DESIGN §10); only those contrasts
form the confirmatory family, every other pair is exploratory. An entry is a mapping with one
of

    pairs:  [[a, b], ...]                each listed pair, Δ = acc_a − acc_b
    twins:  _missing                      each variant `<x>_missing` against its twin `<x>`
    versus: ref | [refs]  (each: v | [v, ...] | all)
                                          each listed variant (default: all the others)
                                          against each reference, Δ = acc_v − acc_ref

plus `conditions` — `all` (the default), or a list of selectors: a condition id (`clean`,
`missing(b, fraction=1.0)`) or a mapping `{op, modality, level}` whose values (a scalar or a
list) must all match — and an optional `question` (the text the report answers under).

Without declarations the family is every variant against the study's first one, under every
condition — Demšar's (2006) comparisons with a control: m − 1 contrasts per condition instead
of m(m − 1)/2, the many-to-one design whose correction stays affordable. Declaring the
questions is better still; the report says when the default was used.

A contrast named by two entries is tested once and listed under both questions (the first
entry's orientation wins).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

KINDS = ("pairs", "twins", "versus")
SELECTOR_KEYS = ("op", "modality", "level")


class ContrastError(ValueError):
    """A contrast declaration that does not fit the study; the message names the path."""


@dataclass(frozen=True)
class Contrast:
    """Δ = acc(a) − acc(b) in `condition`; `questions`: the declared questions it answers."""

    a: str
    b: str
    condition: str
    questions: tuple[str, ...]


@dataclass(frozen=True)
class ConditionInfo:
    """What a selector can match: the condition id, operator, modality and level."""

    id: str
    op: str
    modality: str
    level: float


def _hint(name: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def _variant(name: Any, variants: Sequence[str], where: str) -> str:
    if not isinstance(name, str) or name not in variants:
        raise ContrastError(f"{where}: unknown variant {name!r}{_hint(str(name), variants)} "
                            f"(variants: {', '.join(variants)})")
    return name


def _names(value: Any, variants: Sequence[str], where: str) -> list[str]:
    if value == "all":
        return list(variants)
    items = value if isinstance(value, list) else [value]
    return [_variant(v, variants, f"{where}.{i}" if isinstance(value, list) else where)
            for i, v in enumerate(items)]


def _pairs(entry: Mapping[str, Any], variants: Sequence[str], where: str
           ) -> tuple[list[tuple[str, str]], str]:
    """The (a, b) pairs of one entry and its default question."""
    if "pairs" in entry:
        pairs = entry["pairs"]
        if not isinstance(pairs, list) or not pairs:
            raise ContrastError(f"{where}.pairs: a non-empty list of [a, b] pairs")
        out = []
        for i, pair in enumerate(pairs):
            if not (isinstance(pair, list | tuple) and len(pair) == 2):
                raise ContrastError(f"{where}.pairs.{i}: a pair is [a, b], got {pair!r}")
            a, b = (_variant(x, variants, f"{where}.pairs.{i}.{j}") for j, x in enumerate(pair))
            out.append((a, b))
        return out, ", ".join(f"{a} vs {b}" for a, b in out)
    if "twins" in entry:
        suffix = entry["twins"]
        out = [(v, v[: -len(suffix)]) for v in variants
               if isinstance(suffix, str) and suffix and v.endswith(suffix)
               and v[: -len(suffix)] in variants]
        if not out:
            raise ContrastError(f"{where}.twins: no variant <x>{suffix} has a twin <x> "
                                f"(variants: {', '.join(variants)})")
        return out, f"each <x>{suffix} vs <x>"
    refs = _names(entry["versus"], variants, f"{where}.versus")
    each = _names(entry.get("each", "all"), variants, f"{where}.each")
    out = [(v, r) for v in each for r in refs if v != r]
    if not out:
        raise ContrastError(f"{where}.each: no variant other than {', '.join(refs)} to "
                            "compare")
    label = "each variant" if entry.get("each", "all") == "all" else ", ".join(each)
    return out, f"{label} vs {', '.join(refs)}"


def _matches(selector: Any, c: ConditionInfo, where: str) -> bool:
    if isinstance(selector, str):
        return selector == c.id
    if not isinstance(selector, Mapping) or not selector:
        raise ContrastError(f"{where}: a condition id or a mapping of {SELECTOR_KEYS}, "
                            f"got {selector!r}")
    for key, value in selector.items():
        if key not in SELECTOR_KEYS:
            raise ContrastError(f"{where}.{key}: unknown key{_hint(str(key), SELECTOR_KEYS)} "
                                f"(valid: {', '.join(SELECTOR_KEYS)})")
        wanted = value if isinstance(value, list) else [value]
        have = getattr(c, key)
        if not any(have == w or (key == "level" and _close(have, w)) for w in wanted):
            return False
    return True


def _close(a: float, b: Any) -> bool:
    return isinstance(b, int | float) and abs(float(a) - float(b)) < 1e-9


def _conditions(value: Any, conditions: Sequence[ConditionInfo], where: str) -> list[str]:
    if value == "all":
        return [c.id for c in conditions]
    if not isinstance(value, list) or not value:
        raise ContrastError(f"{where}: 'all' or a non-empty list of selectors, got {value!r}")
    out: list[str] = []
    for i, selector in enumerate(value):
        hit = [c.id for c in conditions if _matches(selector, c, f"{where}.{i}")]
        if not hit:
            ids = [c.id for c in conditions]
            extra = _hint(selector, ids) if isinstance(selector, str) else ""
            raise ContrastError(f"{where}.{i}: {selector!r} matches no condition{extra} "
                                f"(conditions: {', '.join(ids)})")
        out += [h for h in hit if h not in out]
    return out


def resolve(entries: Sequence[Mapping[str, Any]] | None, variants: Sequence[str],
            conditions: Sequence[ConditionInfo], where: str = "report.contrasts"
            ) -> list[Contrast]:
    """The confirmatory family: declared entries, or each variant vs the first (module doc)."""
    if not entries:
        if len(variants) < 2:
            return []  # nothing to compare
        entries = [{"versus": variants[0], "question": f"each variant vs {variants[0]} "
                    "(default: the study declares no contrasts)"}]
    found: dict[tuple[frozenset[str], str], Contrast] = {}
    for i, entry in enumerate(entries):
        at = f"{where}.{i}"
        kinds = [k for k in KINDS if k in entry]
        if len(kinds) != 1:
            raise ContrastError(f"{at}: exactly one of {', '.join(KINDS)} (got "
                                f"{', '.join(kinds) or 'none'})")
        pairs, label = _pairs(entry, variants, at)
        question = str(entry.get("question") or label)
        for cond in _conditions(entry.get("conditions", "all"), conditions, f"{at}.conditions"):
            for a, b in pairs:
                key = (frozenset((a, b)), cond)
                old = found.get(key)
                found[key] = (Contrast(a, b, cond, (question,)) if old is None else Contrast(
                    old.a, old.b, cond, tuple(dict.fromkeys((*old.questions, question)))))
    return list(found.values())
