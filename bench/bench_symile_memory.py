"""Symile `n_squared` loss, forward + backward: time and peak memory against the reference
package (`symile` 0.1.0) and a plain matmul, in one run (issue 17, DESIGN §12).

Cases: N = 128, 512, 1024 rows, D = 256, three modalities, float32, one torch thread,
normalised embeddings, logit scale 10. Implementations:
- `robustlab`: `symile_loss(..., "n_squared")` with its default memory budget (128 MiB:
  blocks plus forward logits kept for the backward);
- `robustlab, recompute`: a budget of one block (`BLOCK_BYTES`), so nothing is kept and the
  backward recomputes every block (the pure flash-attention form; peak set by the block);
- `symile package`: `symile.Symile("n_squared")`, the reference (installed by `nox -s bench`
  with --no-deps; without it the column is skipped with a message);
- `materialised`: plain autograd over the whole N³ logit tensor (our test reference form);
- `plain matmul`: float32 `torch.mm` of (R, D) by (D, N) repeated to the loss's useful FLOPs,
  6·N³·D (2 N³·D forward, 4 N³·D backward; recomputed blocks are not counted, so the achieved
  rate is conservative); R in (256, 1024, 4096), whichever runs fastest in a short trial
  (outputs beyond the L2 cache run slower).
The package and the materialised form run only where their estimated memory fits `CAP`
(on a shared 24 GiB machine): the package's ≈ 9·N³ float32 (4,620 MiB measured at N = 512),
the materialised form's ≈ 4·N³; at N = 1024 neither does, and the table says so.

Method: every case runs in a fresh Python subprocess with one torch thread, so no allocator
cache or earlier peak leaks between them. The child builds the inputs, warms the matmul
library up, reads its peak resident set size (`ru_maxrss`), runs forward + backward (the
median of `REPEATS[N]` runs for wall and CPU seconds), and reads the peak again: the
difference is the extra peak memory. glibc's MALLOC_MMAP_THRESHOLD_ is fixed at 1 MiB in the
child so every large block is mmap-backed and returned on free. The machine is shared: wall
seconds carry the load (printed), CPU seconds of the single thread much less so; ratios are
between cases of the same run.

    .venv/bin/python -m bench symile_memory
"""

from __future__ import annotations

import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import torch

from robustlab.core import symile_loss
from robustlab.core.symile_n2 import BLOCK_BYTES, plan_blocks

SIZES, D, SCALE, SEED = (128, 512, 1024), 256, 10.0, 0
REPEATS = {128: 5, 512: 1, 1024: 1}
CAP = 6 * 2**30  # bytes an estimated-to-fit comparison may take
IMPLS = ("robustlab", "robustlab, recompute", "symile package", "materialised", "plain matmul")


# ---------------------------------------------------------------------------------- child
def _inputs(n: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(SEED)
    return [torch.nn.functional.normalize(torch.randn(n, D, generator=gen), dim=1)
            .requires_grad_() for _ in range(3)]


def _materialised(embs: list[torch.Tensor], scale: float) -> torch.Tensor:
    logits = scale * torch.einsum("id,jd,kd->ijk", *embs)  # (N, N, N)
    positive = scale * (embs[0] * embs[1] * embs[2]).sum(1)  # (N,)
    return torch.stack([(logits.logsumexp(dim=dims) - positive).mean()
                        for dims in ((1, 2), (0, 2), (0, 1))]).mean()


def _step(impl: str, n: int, rows: int) -> Any:
    """One timed unit of `impl` at N rows; returns the loss (None for the matmul)."""
    if impl == "plain matmul":
        a, b = torch.randn(rows, D), torch.randn(D, n)
        for _ in range(round(6 * n**3 * D / (2 * a.shape[0] * D * n))):
            torch.mm(a, b)
        return None
    embs = _inputs(n)
    if impl == "symile package":
        from symile import Symile  # optional: imported only where installed
        loss = Symile("n_squared")(embs, torch.tensor(SCALE))
    elif impl == "materialised":
        loss = _materialised(embs, SCALE)
    else:
        budget = BLOCK_BYTES if impl == "robustlab, recompute" else None
        kwargs = {"memory_budget": budget} if budget else {}
        loss = symile_loss(embs, SCALE, "n_squared", **kwargs)
    loss.backward()
    return float(loss.detach())


def _best_rows(n: int) -> int:
    """The row count R at which (R, D) @ (D, N) runs fastest here (~1 GFLOP trial each)."""
    seconds = {}
    for rows in (256, 1024, 4096):
        a, b = torch.randn(rows, D), torch.randn(D, n)
        reps = max(1, round(1e9 / (2 * rows * D * n)))
        start = time.process_time()
        for _ in range(reps):
            torch.mm(a, b)
        seconds[rows] = (time.process_time() - start) / (reps * rows)
    return min(seconds, key=seconds.__getitem__)


def _measure(impl: str, n: int) -> dict[str, float | None]:
    """Run in the child process: extra peak RSS (MiB), wall and CPU seconds, the loss."""
    torch.set_num_threads(1)
    torch.mm(torch.randn(256, 256), torch.randn(256, 256))  # load and warm the BLAS
    rows = _best_rows(n) if impl == "plain matmul" else 0  # chosen outside the timing
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    walls, cpus, loss = [], [], None
    for _ in range(REPEATS[n]):
        wall, cpu = time.perf_counter(), time.process_time()
        loss = _step(impl, n, rows)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_mib": (after - before) / 1024, "wall_s": statistics.median(walls),
            "cpu_s": statistics.median(cpus), "loss": loss}


# ---------------------------------------------------------------------------------- parent
def _skip_reason(impl: str, n: int, have_package: bool) -> str | None:
    if impl == "symile package" and not have_package:
        return "not installed (`pip install --no-deps symile==0.1.0`; nox -s bench does)"
    estimate = {"symile package": 9, "materialised": 4}.get(impl, 0) * n**3 * 4
    if estimate > CAP:
        return f"needs ≈ {estimate / 2**30:.0f} GiB (estimated) > {CAP / 2**30:.0f} GiB cap"
    if impl == "robustlab, recompute" and n >= 1024:
        plan = plan_blocks(n, D, 3, 4)
        kept = plan.kept * plan.chunk * plan.tile / n**2
        return f"skipped for time: the default budget keeps only {kept:.0%} of the logits here"
    return None


def _run_child(impl: str, n: int) -> dict[str, float | None]:
    code = ("import json, bench.bench_symile_memory as b; "
            f"print(json.dumps(b._measure({impl!r}, {n})))")
    # glibc keeps freed heap blocks below its (dynamic) mmap threshold, which would make
    # the smaller blocks look bigger; a fixed 1 MiB threshold returns every block on free.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(2**20), "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=1800, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _table(n: int, rows: dict[str, dict[str, float | None]], skipped: dict[str, str]) -> None:
    print(f"\nN = {n}, D = {D}, M = 3, fwd+bwd; useful matmul work 6·N³·D = "
          f"{6 * n**3 * D / 1e9:.1f} GFLOP")
    print(f"{'':>22}{'peak MiB':>10}{'wall s':>9}{'cpu s':>8}{'GFLOP/s':>9}  loss")
    for impl in IMPLS:
        if impl in skipped:
            print(f"{impl:>22}  skipped: {skipped[impl]}")
            continue
        r = rows[impl]
        rate = 6 * n**3 * D / float(r["cpu_s"] or 1e-9) / 1e9
        loss = "" if r["loss"] is None else f"{r['loss']:.6f}"
        print(f"{impl:>22}{r['peak_mib']:>10.0f}{r['wall_s']:>9.2f}{r['cpu_s']:>8.2f}"
              f"{rate:>9.1f}  {loss}")


def _figures(n: int, rows: dict[str, dict[str, float | None]]) -> dict[str, float]:
    ours, plain = rows["robustlab"], rows["plain matmul"]
    figures = {f"N{n}_{k}": float(v) for k, v in ours.items() if v is not None}
    figures[f"N{n}_matmul_fraction_cpu"] = float(plain["cpu_s"]) / float(ours["cpu_s"])
    print(f"robustlab: {figures[f'N{n}_matmul_fraction_cpu']:.0%} of the plain matmul's rate "
          f"(CPU time)")
    for ref in ("symile package", "materialised"):
        if ref not in rows:
            continue
        other, key = rows[ref], ref.split()[-1]
        same = abs(float(ours["loss"]) - float(other["loss"])) <= 1e-5 * abs(float(other["loss"]))
        for unit in ("wall_s", "cpu_s"):
            figures[f"N{n}_time_vs_{key}_{unit[:-2]}"] = float(ours[unit]) / float(other[unit])
        figures[f"N{n}_memory_vs_{key}"] = float(ours["peak_mib"]) / float(other["peak_mib"])
        figures[f"N{n}_loss_equal_{key}"] = float(same)
        print(f"robustlab / {ref}: time {figures[f'N{n}_time_vs_{key}_wall']:.3f}x wall, "
              f"{figures[f'N{n}_time_vs_{key}_cpu']:.3f}x CPU; peak memory "
              f"1/{1 / figures[f'N{n}_memory_vs_{key}']:.0f}; losses equal to 1e-5: {same}")
    return figures


def main() -> dict[str, float]:
    have_package = importlib.util.find_spec("symile") is not None
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"({os.cpu_count()} CPUs)")
    figures: dict[str, float] = {"load_start": load[0]}
    for n in SIZES:
        skipped = {i: r for i in IMPLS if (r := _skip_reason(i, n, have_package)) is not None}
        rows = {impl: _run_child(impl, n) for impl in IMPLS if impl not in skipped}
        _table(n, rows, skipped)
        figures.update(_figures(n, rows))
    figures["load_end"] = os.getloadavg()[0]
    print(f"\nload average at end: {figures['load_end']:.2f}")
    return figures


if __name__ == "__main__":
    main()
