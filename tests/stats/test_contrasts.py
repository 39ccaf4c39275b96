"""Declared contrasts (`robustlab.stats.contrasts`): every kind of entry, the selectors, the
default family, and errors that name the YAML path and the closest valid name."""

from __future__ import annotations

import pytest

from robustlab.stats.contrasts import ConditionInfo, ContrastError, resolve

VARIANTS = ["clip", "symile", "gated", "clip_missing", "symile_missing", "gated_missing"]
CONDITIONS = [ConditionInfo("clean", "clean", "none", 0.0),
              ConditionInfo("missing(b, fraction=0.5)", "missing", "b", 0.5),
              ConditionInfo("missing(b, fraction=1.0)", "missing", "b", 1.0),
              ConditionInfo("missing(c, fraction=1.0)", "missing", "c", 1.0)]


def triples(entries):
    return [(c.a, c.b, c.condition) for c in resolve(entries, VARIANTS, CONDITIONS)]


def test_pairs_twins_and_versus_expand_as_documented() -> None:
    assert triples([{"pairs": [["gated", "symile"]], "conditions": ["clean"]}]) == [
        ("gated", "symile", "clean")]
    assert triples([{"twins": "_missing", "conditions": ["clean"]}]) == [
        ("clip_missing", "clip", "clean"), ("symile_missing", "symile", "clean"),
        ("gated_missing", "gated", "clean")]
    assert triples([{"versus": "clip", "each": ["gated", "symile"],
                     "conditions": ["clean"]}]) == [("gated", "clip", "clean"),
                                                    ("symile", "clip", "clean")]
    assert triples([{"each": "gated_missing", "versus": ["clip_missing", "symile_missing"],
                     "conditions": ["clean"]}]) == [("gated_missing", "clip_missing", "clean"),
                                                    ("gated_missing", "symile_missing", "clean")]
    everyone = triples([{"versus": "clip", "conditions": ["clean"]}])
    assert [t[0] for t in everyone] == [v for v in VARIANTS if v != "clip"]


def test_selectors_match_ids_and_fields_with_lists() -> None:
    got = triples([{"pairs": [["gated", "clip"]],
                    "conditions": [{"op": "missing", "level": 1.0}, "clean"]}])
    assert [t[2] for t in got] == ["missing(b, fraction=1.0)", "missing(c, fraction=1.0)",
                                   "clean"]
    got = triples([{"pairs": [["gated", "clip"]],
                    "conditions": [{"modality": "b", "level": [0.5, 1]}]}])
    assert [t[2] for t in got] == ["missing(b, fraction=0.5)", "missing(b, fraction=1.0)"]
    assert len(triples([{"pairs": [["gated", "clip"]]}])) == len(CONDITIONS)  # default: all


def test_default_family_is_each_variant_against_the_first() -> None:
    family = resolve(None, VARIANTS, CONDITIONS)
    assert len(family) == (len(VARIANTS) - 1) * len(CONDITIONS)
    assert {c.b for c in family} == {"clip"}
    assert "default" in family[0].questions[0]
    assert resolve([], ["only"], CONDITIONS) == []  # nothing to compare with


def test_a_contrast_named_twice_is_tested_once_under_both_questions() -> None:
    family = resolve([{"question": "q1", "pairs": [["gated", "clip"]], "conditions": ["clean"]},
                      {"question": "q2", "versus": "gated", "each": "clip",
                       "conditions": ["clean"]}], VARIANTS, CONDITIONS)
    assert len(family) == 1
    assert (family[0].a, family[0].b, family[0].questions) == ("gated", "clip", ("q1", "q2"))


@pytest.mark.parametrize(("entries", "message"), [
    ([{"pairs": [["gatd", "clip"]]}], "report.contrasts.0.pairs.0.0: unknown variant 'gatd'; "
                                       "did you mean 'gated'?"),
    ([{"versus": "clip", "each": ["symil"]}], "report.contrasts.0.each.0: unknown variant "
                                              "'symil'; did you mean 'symile'?"),
    ([{"twins": "_corrupt"}], "report.contrasts.0.twins: no variant <x>_corrupt has a twin"),
    ([{"pairs": [["gated", "clip"]], "conditions": ["missing(b, fraction=0.25)"]}],
     "report.contrasts.0.conditions.0: 'missing(b, fraction=0.25)' matches no condition; "
     "did you mean 'missing(b, fraction=0.5)'?"),
    ([{"pairs": [["gated", "clip"]], "conditions": [{"opp": "missing"}]}],
     "report.contrasts.0.conditions.0.opp: unknown key; did you mean 'op'?"),
    ([{"pairs": [["gated", "clip"]], "twins": "_missing"}],
     "report.contrasts.0: exactly one of pairs, twins, versus"),
    ([{"versus": "clip", "each": "clip"}], "report.contrasts.0.each: no variant other than clip"),
])
def test_bad_declarations_name_the_path(entries, message) -> None:
    with pytest.raises(ContrastError) as err:
        resolve(entries, VARIANTS, CONDITIONS)
    assert str(err.value).startswith(message), str(err.value)
