"""GRAM and TRIANGLE retrieval scoring: closed forms vs the direct forms.

Target (DESIGN §12): at B = C = 4096, D = 256 the closed forms (`gram_scores`,
`triangle_scores`: matmuls of the pairwise dot products, chunked over C) are >= 10x faster
than the direct forms, with the same scores (here: to 1e-4).

Direct forms (written here, as the reference computes them):
- GRAM, `det`: the reference's — the dot products by matmul, stacked into (b, C, 3, 3) Gram
  matrices, `torch.linalg.det`, clamp, sqrt;
- GRAM, `explicit`: the vectors stacked into (b, c, 3, D), G = V Vᵀ, `torch.linalg.det`;
- TRIANGLE, `direct`: the (b, c, D) sides u = x − y, v = x − z, then their norms and dot.
The reference's GRAM form already gets its dot products from the same two matmuls as the
closed form and only adds the stacked `torch.det`, so the closed form's speed-up over it is
bounded by (matmuls + det) / matmuls; `matmuls_only` times that shared floor. The 10x target
is met against the forms that materialise the vectors.
At full size one (B, C, D) float32 tensor is 17 GB (the triangle holds two), more than this
shared machine has, so, as in `bench_gate`, every direct form runs on the first B_SUB = 128
queries against all 4096 candidates, chunked over candidates, and the comparison is the cost
per (query, candidate) pair: each pair does the same work, so the per-pair ratio is the
speed-up at full size. The closed forms run on the full 4096 x 4096 problem.

Every form runs in a fresh subprocess (as in `bench_symile_memory`), which reads its peak
resident set size before and after the first call (the extra peak is what the form needs;
glibc's mmap threshold is fixed at 1 MiB so freed blocks are returned), then times further
calls (best of REPEATS). It saves its scores for the first B_SUB queries, and the parent
compares them. Inputs are unit vectors (what an encoder with `normalize` feeds them).

    .venv/bin/python -m bench gram
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from robustlab.core import gram_scores, triangle_scores

B = C = 4096
D = 256
B_SUB = 128
DIRECT_CHUNK = 64  # candidates per chunk of a direct form: (B_SUB, 64, D) floats at a time
REPEATS = 2
SEED = 0
FORMS: dict[str, tuple[str, int]] = {  # form -> (method, queries it runs on)
    "gram_closed": ("gram", B), "gram_det": ("gram", B_SUB), "gram_explicit": ("gram", B_SUB),
    "triangle_closed": ("triangle", B), "triangle_direct": ("triangle", B_SUB),
    "matmuls_only": ("", B),
}


def _inputs(queries: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    gen = torch.Generator().manual_seed(SEED)
    y, z, x = (torch.nn.functional.normalize(torch.randn(n, D, generator=gen), dim=1)
               for n in (B, B, C))
    return [y[:queries], z[:queries]], x  # context (queries, D) x 2, candidates (C, D)


def gram_det(context: list[torch.Tensor], cand: torch.Tensor) -> torch.Tensor:
    """The reference's form: dot products by matmul, stacked (b, C, 3, 3), torch.det."""
    y, z = context
    xx = (cand * cand).sum(1)[None].expand(y.shape[0], -1)  # (b, C)
    yy, zz, yz = ((p * q).sum(1)[:, None].expand(-1, cand.shape[0]) for p, q in
                  ((y, y), (z, z), (y, z)))
    xy, xz = y @ cand.T, z @ cand.T  # (b, C)
    gram = torch.stack([torch.stack([xx, xy, xz], -1), torch.stack([xy, yy, yz], -1),
                        torch.stack([xz, yz, zz], -1)], -2)  # (b, C, 3, 3)
    return -torch.linalg.det(gram).clamp_min(1e-8).sqrt()


def gram_explicit(context: list[torch.Tensor], cand: torch.Tensor) -> torch.Tensor:
    """Every (query, candidate) triple stacked as (b, c, 3, D); G = V Vᵀ; torch.det."""
    y, z = context
    out = []
    for chunk in cand.split(DIRECT_CHUNK):
        b, c = y.shape[0], chunk.shape[0]
        vectors = torch.stack([chunk[None].expand(b, c, D), y[:, None].expand(b, c, D),
                               z[:, None].expand(b, c, D)], dim=2)  # (b, c, 3, D)
        gram = vectors @ vectors.transpose(-1, -2)  # (b, c, 3, 3)
        out.append(-torch.linalg.det(gram).clamp_min(1e-8).sqrt())
    return torch.cat(out, dim=1)


def triangle_direct(context: list[torch.Tensor], cand: torch.Tensor) -> torch.Tensor:
    """The (b, c, D) sides u = x − y, v = x − z of every triangle (the squared surrogate)."""
    y, z = context
    out = []
    for chunk in cand.split(DIRECT_CHUNK):
        u = chunk[None] - y[:, None]  # (b, c, D)
        v = chunk[None] - z[:, None]
        det = (u * u).sum(-1) * (v * v).sum(-1) - (u * v).sum(-1) ** 2
        out.append(-0.5 * det.clamp_min(0.0))
    return torch.cat(out, dim=1)


def matmuls_only(context: list[torch.Tensor], cand: torch.Tensor) -> torch.Tensor:
    """The floor: the two (B, C) dot-product matmuls every form but the explicit ones needs
    (in the closed forms' candidate chunks of 1024)."""
    y, z = context
    return torch.cat([(y @ chunk.T) + (z @ chunk.T) for chunk in cand.split(1024)], dim=1)


SCORERS: dict[str, Callable[[list[torch.Tensor], torch.Tensor], torch.Tensor]] = {
    "gram_closed": gram_scores, "gram_det": gram_det, "gram_explicit": gram_explicit,
    "triangle_closed": triangle_scores, "triangle_direct": triangle_direct,
    "matmuls_only": matmuls_only,
}


def _measure(form: str, out_path: str) -> dict[str, float]:
    """In the child: extra peak RSS of the first call, best time of REPEATS more."""
    context, cand = _inputs(FORMS[form][1])
    scorer = SCORERS[form]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    with torch.no_grad():
        scores = scorer(context, cand)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        best = float("inf")
        for _ in range(REPEATS):
            start = time.perf_counter()
            scorer(context, cand)
            best = min(best, time.perf_counter() - start)
    torch.save(scores[:B_SUB].clone(), out_path)
    return {"seconds": best, "peak_extra_mib": (peak - before) / 1024,
            "threads": float(torch.get_num_threads())}


def _run_child(form: str, out_path: str) -> dict[str, float]:
    code = ("import json, bench.bench_gram as b; "
            f"print(json.dumps(b._measure({form!r}, {out_path!r})))")
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(2**20)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=900, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> dict[str, float]:
    runs, scores = {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-gram-") as tmp:
        for form in FORMS:
            path = str(Path(tmp) / f"{form}.pt")
            runs[form] = _run_child(form, path)
            scores[form] = torch.load(path)
    return _report(runs, scores)


def _report(runs: dict[str, dict[str, float]], scores: dict[str, torch.Tensor]) -> dict[str, float]:
    print(f"B = C = {B}, D = {D}, float32, {runs['gram_closed']['threads']:.0f} torch threads; "
          f"direct forms on {B_SUB} queries x {C} candidates; best of {REPEATS}")
    print(f"{'form':<17}{'problem':>11}{'seconds':>9}{'ns / pair':>11}{'peak MiB':>10}"
          f"{'speed-up':>10}{'max |diff|':>12}")
    figures: dict[str, float] = {}
    for form, (method, queries) in FORMS.items():
        if not method:
            continue
        closed = f"{method}_closed"
        per_pair = runs[form]["seconds"] / (queries * C)
        speedup = per_pair / (runs[closed]["seconds"] / (B * C))
        diff = float((scores[form] - scores[closed]).abs().max())
        print(f"{form:<17}{f'{queries}x{C}':>11}{runs[form]['seconds']:>9.2f}"
              f"{per_pair * 1e9:>11.1f}{runs[form]['peak_extra_mib']:>10.0f}"
              f"{speedup:>9.1f}x{diff:>12.1e}")
        figures |= {f"{form}_seconds": runs[form]["seconds"], f"{form}_ns_per_pair":
                    per_pair * 1e9, f"{form}_peak_extra_mib": runs[form]["peak_extra_mib"]}
        if form != closed:
            figures |= {f"{form}_speedup_per_pair": speedup, f"{form}_max_abs_diff": diff}
    floor = runs["matmuls_only"]["seconds"]
    print(f"the two (B, C) dot-product matmuls alone: {floor:.2f} s "
          f"({floor / (B * C) * 1e9:.1f} ns / pair): a floor for the closed forms and for "
          f"gram_det, which bounds gram_det's speed-up")
    figures["matmuls_only_seconds"] = floor
    full = B * C * D * 4 / 2**30
    print(f"(an unchunked direct form at full size holds (B, C, D) float32 tensors of "
          f"{full:.0f} GiB each; target: speed-up >= 10x, max |diff| <= 1e-4)")
    return figures


if __name__ == "__main__":
    main()
