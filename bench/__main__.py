"""`python -m bench [NAME ...]`: run every benchmark module in bench/ (or the named ones).

Each module `bench/bench_<name>.py` exposes `main() -> dict`, printing its own table; the
collected figures are written to `reports/bench/results.json`.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path


def _modules(selected: list[str]) -> list[str]:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    if selected:
        unknown = [s for s in selected if f"bench_{s}" not in names]
        if unknown:
            sys.exit(f"unknown benchmark(s) {unknown}; valid: {[n[6:] for n in names]}")
        names = [f"bench_{s}" for s in selected]
    return names


def main() -> None:
    results: dict[str, object] = {}
    for name in _modules(sys.argv[1:]):
        print(f"\n=== {name} ===", flush=True)
        start = time.perf_counter()
        results[name] = importlib.import_module(f"bench.{name}").main()
        print(f"({name}: {time.perf_counter() - start:.1f} s)", flush=True)
    out = Path("reports/bench/results.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
