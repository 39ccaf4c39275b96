"""Charts: inline-able SVG (no prolog), ids unique per chart, data text escaped and never read
as mathtext, and no global matplotlib state touched."""

from __future__ import annotations

import re

import matplotlib
import numpy as np

from robustlab.report.charts import Series, curve_chart, trial_chart


def chart(key: str, label: str = "clip") -> str:
    x = np.array([0.0, 0.5, 1.0])
    series = Series(label, x, np.array([0.8, 0.6, 0.4]), x * 0 + 0.3, x * 0 + 0.9)
    return curve_chart(key, [(0, series)], x_label="fraction").markup


def test_svg_is_inline_ready() -> None:
    svg = chart("c0")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<?xml" not in svg and "DOCTYPE" not in svg and "<metadata" not in svg


def test_ids_are_prefixed_and_every_reference_resolves() -> None:
    a, b = chart("curve-0"), chart("curve-1")
    ids_a, ids_b = set(re.findall(r'\bid="([^"]+)"', a)), set(re.findall(r'\bid="([^"]+)"', b))
    assert ids_a and all(i.startswith("curve-0-") for i in ids_a)
    assert not ids_a & ids_b  # two charts on one page never share an id
    refs = re.findall(r'(?:href="#|url\(#)([^")]+)', a)
    assert refs and set(refs) <= ids_a


def test_data_text_is_escaped_and_dollars_stay_literal() -> None:
    svg = chart("c2", label="<script>x</script> $a$ & b")
    assert "<script>" not in svg
    # in a <text> element: typeset as math, it would only survive in a comment
    assert re.search(r"<text[^>]*>&lt;script&gt;x&lt;/script&gt; \$a\$ &amp; b</text>", svg)


def test_no_global_matplotlib_state_changes() -> None:
    before = dict(matplotlib.rcParams)
    backend = matplotlib.get_backend()
    chart("c3")
    trial_chart("t", [(0, "clip", [[0.1, 0.3], [0.2]]), (1, "symile", [])], "val_top1")
    assert dict(matplotlib.rcParams) == before and matplotlib.get_backend() == backend


def test_same_input_same_svg() -> None:
    assert chart("c4") == chart("c4")
