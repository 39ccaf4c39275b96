"""Matplotlib charts rendered to inline SVG strings.

No pyplot: each chart is a `Figure` on its own Agg canvas, so no global state (style, backend,
open-figure list) is touched, and rc settings are changed only inside `rc_context`. Text stays
text (`svg.fonttype: none`), so charts are small and searchable; matplotlib escapes it. Each
chart's element ids get a chart-specific prefix so several SVGs can share one HTML page
(`<use href="#id">` would otherwise resolve to another chart's definition).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Okabe & Ito's colour-blind-safe palette (Color Universal Design), darkest first; its yellow
# is left out (too faint on white). A method's line also gets a marker and, from the eighth
# method on, a dash pattern: (colour, marker) pairs repeat only after 7 x 6 = 42 methods, and
# lines stay apart in greyscale and for every kind of colour blindness.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P")
DASHES = ("-", "--", ":", "-.")
_RC: dict[Any, Any] = {"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
       "axes.spines.right": False,
       # text stays text; a short font list, as every <text> element repeats it
       "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans", "Arial"]}
_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
_ID = re.compile(r'\bid="([^"]+)"')
_ATTRIBUTE = re.compile(r'="([^"]*)"')
_DIGITS = re.compile(r"(\d\.\d\d)\d+")  # coordinates beyond 0.01 pt: invisible
_INDENT = re.compile(r"\n[ \t]+")
_REF = re.compile(r'(href="#|url\(#)([^")]+)')


@dataclass(frozen=True)
class InlineSvg:
    """SVG markup that a Jinja2 template inserts as-is (the `__html__` protocol)."""

    markup: str

    def __html__(self) -> str:
        return self.markup


@dataclass(frozen=True)
class Series:
    """One line of a chart: y over x with an optional (lo, hi) band; all arrays (n,)."""

    label: str
    x: np.ndarray
    y: np.ndarray
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None


def plain(text: str) -> str:
    """`text` with `$` escaped, so matplotlib never reads a data string as mathtext."""
    return text.replace("$", r"\$")


def colour(index: int) -> str:
    """The colour of the method at `index` of the study's method order (same in every chart)."""
    return PALETTE[index % len(PALETTE)]


def line_style(index: int) -> dict[str, Any]:
    """Colour, marker and dash pattern of the method at `index` (same in every chart)."""
    return {"color": colour(index), "marker": MARKERS[index % len(MARKERS)],
            "linestyle": DASHES[(index // len(PALETTE)) % len(DASHES)]}


def to_svg(fig: Figure, key: str) -> InlineSvg:
    """Serialise `fig` to SVG without the XML prolog, ids prefixed with `key`, coordinates
    in attributes cut to two decimals (text content untouched)."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": key}):
        fig.savefig(buf, format="svg", metadata=_NO_METADATA, bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # drop <?xml ...?> and the DOCTYPE (not valid in HTML)
    prefix = re.sub(r"[^A-Za-z0-9_-]", "_", key)
    text = _ATTRIBUTE.sub(lambda m: '="' + _DIGITS.sub(r"\1", m.group(1)) + '"', text)
    text = _INDENT.sub("\n", text)  # matplotlib's pretty-printing indentation
    text = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', text)
    text = _REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", text)
    return InlineSvg(text)


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def curve_chart(key: str, series: Sequence[tuple[int, Series]], x_label: str) -> InlineSvg:
    """Accuracy against the level, one line per (method index, series) with its CI band; no
    title (the panel's heading names the curve); the legend sits below the axes."""
    with matplotlib.rc_context(_RC):
        fig = _figure(5.2, 3.0 + 0.16 * math.ceil(len(series) / 3))
        ax = fig.add_subplot()
        for index, s in series:
            ax.plot(s.x, s.y, ms=3.5, lw=1.3, label=plain(s.label), **line_style(index))
            if s.lo is not None and s.hi is not None:
                ax.fill_between(s.x, s.lo, s.hi, color=colour(index), alpha=0.10, lw=0)
        _decorate(ax, "", x_label, "accuracy")
        if series:
            fig.legend(loc="outside lower center", ncols=min(3, len(series)), fontsize=8,
                       frameon=False, handlelength=2.6)
        return to_svg(fig, key)


def trial_chart(key: str, histories: Sequence[tuple[int, str, Sequence[Sequence[float]]]],
                metric: str) -> InlineSvg:
    """One panel per method: each tuning trial's metric history over epochs."""
    with matplotlib.rc_context(_RC):
        fig = _figure(min(3.0 * len(histories), 12.0), 2.6)
        axes = fig.subplots(1, len(histories), sharey=True, squeeze=False)[0]
        for ax, (index, method, runs) in zip(axes, histories, strict=True):
            for run in runs:
                epochs = np.arange(1, len(run) + 1)
                ax.plot(epochs, run, color=colour(index), alpha=0.7, lw=1, marker=".", ms=3)
            _decorate(ax, method, "epoch", metric if ax is axes[0] else "")
        return to_svg(fig, key)


def _decorate(ax: Axes, title: str, x_label: str, y_label: str) -> None:
    if title:
        ax.set_title(plain(title), fontsize=9)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(alpha=0.3, lw=0.5)
