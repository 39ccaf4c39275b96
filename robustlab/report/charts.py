"""Matplotlib charts rendered to inline SVG strings.

No pyplot: each chart is a `Figure` on its own Agg canvas, so no global state (style, backend,
open-figure list) is touched, and rc settings are changed only inside `rc_context`. Text stays
text (`svg.fonttype: none`), so charts are small and searchable; matplotlib escapes it. Each
chart's element ids get a chart-specific prefix so several SVGs can share one HTML page
(`<use href="#id">` would otherwise resolve to another chart's definition).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
_RC: dict[Any, Any] = {"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False,
       "axes.spines.right": False}
_NO_METADATA = {"Creator": None, "Date": None, "Format": None, "Type": None}
_ID = re.compile(r'\bid="([^"]+)"')
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


def to_svg(fig: Figure, key: str) -> InlineSvg:
    """Serialise `fig` to SVG without the XML prolog, ids prefixed with `key`."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": key}):
        fig.savefig(buf, format="svg", metadata=_NO_METADATA, bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # drop <?xml ...?> and the DOCTYPE (not valid in HTML)
    prefix = re.sub(r"[^A-Za-z0-9_-]", "_", key)
    text = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', text)
    text = _REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", text)
    return InlineSvg(text)


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def curve_chart(key: str, title: str, series: Sequence[tuple[int, Series]],
                x_label: str) -> InlineSvg:
    """Accuracy against severity, one line per (method index, series) with its CI band."""
    with matplotlib.rc_context(_RC):
        fig = _figure(5.2, 3.2)
        ax = fig.add_subplot()
        for index, s in series:
            ax.plot(s.x, s.y, marker="o", ms=3, color=colour(index), label=plain(s.label))
            if s.lo is not None and s.hi is not None:
                ax.fill_between(s.x, s.lo, s.hi, color=colour(index), alpha=0.12, lw=0)
        _decorate(ax, title, x_label, "accuracy")
        ax.legend(fontsize=8, frameon=False)
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
    ax.set_title(plain(title), fontsize=9)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(alpha=0.3, lw=0.5)
