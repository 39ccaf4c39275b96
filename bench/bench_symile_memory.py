"""Peak memory of `symile_loss(..., "n_squared")`, chunked vs unchunked, forward + backward.

Target (DESIGN §12): at N = 512, D = 256 (three modalities, N³ = 134M logits per anchor) the
chunked form's peak memory is bounded by the chunk size, not by N³.

Method: every variant runs in a fresh Python subprocess, so no allocator cache or earlier peak
leaks between them. The subprocess imports torch, builds the inputs, reads its peak resident
set size (`resource.getrusage(RUSAGE_SELF).ru_maxrss`), runs one forward + backward of the
loss, and reads the peak again; the difference is the extra peak memory of the loss.
(tracemalloc cannot see torch's CPU allocations, which bypass Python's allocator; peak RSS
sees all of them; the child runs with glibc's MALLOC_MMAP_THRESHOLD_ fixed at 1 MiB so every
large block is mmap-backed and returned on free, and a freed block cannot inflate the peak.)
"Unchunked" is `chunk_size=N`: one block holding the whole (N, N²) logit matrix. Chunked runs
use the default chunk of 64 rows and a smaller one of 16, to show the peak follows the chunk.
The seconds column is one wall-clock run per variant on whatever the machine is doing (every
variant does the same N³·D work); it is context, not a speed claim.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import torch

from robustlab.core import symile_loss

N, D, SEED = 512, 256, 0
CHUNKS = (N, 64, 16)  # N = one block = unchunked


def _measure(chunk_size: int) -> dict[str, float]:
    """Run in the child process: extra peak RSS (MiB) and wall time of forward + backward."""
    gen = torch.Generator().manual_seed(SEED)
    embs = [torch.nn.functional.normalize(torch.randn(N, D, generator=gen), dim=1)
            .requires_grad_() for _ in range(3)]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.perf_counter()
    loss = symile_loss(embs, 10.0, "n_squared", chunk_size=chunk_size)
    loss.backward()
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_extra_mib": (after - before) / 1024, "seconds": seconds,
            "loss": float(loss.detach())}


def _run_child(chunk_size: int) -> dict[str, float]:
    code = ("import json, bench.bench_symile_memory as b; "
            f"print(json.dumps(b._measure({chunk_size})))")
    # glibc keeps freed heap blocks below its (dynamic) mmap threshold, which would make
    # the smaller chunks look bigger; a fixed 1 MiB threshold returns every block on free.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(2**20)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> dict[str, float]:
    results = {c: _run_child(c) for c in CHUNKS}
    logits_mib = N * N * N * 4 / 2**20  # one anchor's full (N, N²) float32 logit matrix
    print(f"N = {N}, D = {D}, M = 3; one anchor's N³ float32 logits = {logits_mib:.0f} MiB")
    print(f"{'chunk_size':>10}{'block logits MiB':>18}{'peak extra MiB':>16}{'seconds':>9}")
    for c, r in results.items():
        block = N * c * N * 4 / 2**20
        label = f"{c} (whole)" if c == N else str(c)
        print(f"{label:>10}{block:>18.0f}{r['peak_extra_mib']:>16.0f}{r['seconds']:>9.2f}")
    whole, default = results[N], results[64]
    same = abs(whole["loss"] - default["loss"]) <= 1e-4 * max(1.0, abs(whole["loss"]))
    ratio = whole["peak_extra_mib"] / max(default["peak_extra_mib"], 1e-9)
    print(f"unchunked / chunked(64) peak: {ratio:.1f}x; losses equal: {same}")
    figures: dict[str, float] = {"peak_ratio_unchunked_over_chunk64": ratio,
                                 "losses_equal": float(same)}
    for c, r in results.items():
        figures[f"peak_extra_mib_chunk{c}"] = r["peak_extra_mib"]
        figures[f"seconds_chunk{c}"] = r["seconds"]
    return figures


if __name__ == "__main__":
    main()
