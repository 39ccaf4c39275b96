"""Hypothesis properties of the pieces every page goes through: embedded numbers are always
valid JSON, and any label text lands in a chart as escaped, literal text."""

from __future__ import annotations

import html
import json
import math
import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from robustlab.report.charts import Series, curve_chart
from robustlab.report.sections.base import json_safe

FLOATS = st.floats(allow_nan=True, allow_infinity=True)
LEAVES = st.one_of(FLOATS, st.integers(), st.text(max_size=5), st.none(), st.booleans())
NESTED = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.text(max_size=3), inner, max_size=4)), max_leaves=20)


def leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in leaves(v)]
    if isinstance(value, list | tuple):
        return [leaf for v in value for leaf in leaves(v)]
    return [value]


@given(NESTED)
def test_json_safe_output_is_strict_json(value: object) -> None:
    """JSON has no NaN/Infinity: `JSON.parse` in the page would throw on them. Non-finite
    floats become null; every other leaf survives."""
    text = json.dumps(json_safe(value), allow_nan=False)  # raises on any NaN/inf left
    before = ["null" if isinstance(v, float) and not math.isfinite(v) else json.dumps(v)
              for v in leaves(value)]
    assert [json.dumps(v) for v in leaves(json.loads(text))] == before


# Printable text with the characters that matter to HTML and to matplotlib's mathtext.
LABELS = st.text(alphabet=st.sampled_from(list("ab xy<>&\"'$\\_^{}/;=!#%")), min_size=1,
                 max_size=24).filter(lambda s: s.strip() and not s.startswith("_"))


@settings(max_examples=25)
@given(LABELS)
def test_any_label_is_literal_escaped_text_in_the_chart(label: str) -> None:
    x = np.array([0.0, 1.0])
    svg = curve_chart("p", [(0, Series(label, x, x))], x_label="level").markup
    texts = [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    assert label.strip() in [t.strip() for t in texts]
