"""The Jinja2 environment (imported only here): autoescaping on for every template.

Data strings reach the page only through `{{ }}` (escaped) or `tojson` (which escapes `<`, `>`,
`&` and `'` as unicode escapes, so no `</script>` can end the embedded data block). Charts are
`InlineSvg` objects, which carry matplotlib's own escaped markup through the `__html__` protocol.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).parent / "templates"
DASH = "—"


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def pct(x: Any, digits: int = 1) -> str:
    """A proportion as a percentage without the sign: 0.7312 -> "73.1"."""
    return DASH if _missing(x) else f"{100 * x:.{digits}f}"


def pp(x: Any) -> str:
    """A difference of proportions in percentage points, signed: 0.042 -> "+4.2"."""
    return DASH if _missing(x) else f"{100 * x:+.1f}"


def pval(x: Any) -> str:
    """A p-value for reading: "<0.001", else three decimals."""
    if _missing(x):
        return DASH
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def pval_cmp(x: Any) -> str:
    """A p-value after "p": "< 0.001" or "= 0.012"."""
    text = pval(x)
    return text if text == DASH else ("< 0.001" if text == "<0.001" else f"= {text}")


def num(x: Any, fmt: str = ",.0f") -> str:
    return DASH if _missing(x) else format(x, fmt)


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters.update(pct=pct, pp=pp, pval=pval, pval_cmp=pval_cmp, num=num)
    # the embedded data without the spaces after "," and ":" (a tenth of its bytes)
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "separators": (",", ":")}
    return env


def render_page(context: Mapping[str, Any]) -> str:
    """Render `templates/report.html.j2` with `context`."""
    return environment().get_template("report.html.j2").render(**context)
