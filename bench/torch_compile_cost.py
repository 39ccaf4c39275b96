"""`torch.compile` for a fusion method's loss, both sides of the trade (issue 24): the time a
process spends compiling (first two steps; run once with an empty `TORCHINDUCTOR_CACHE_DIR`
for a cold cache, again for a warm one) and the per-step gain, compiled against eager in one
process, interleaved (CPU time). A trial runs at most 1,000 steps (20 epochs x 50).

    TORCHINDUCTOR_CACHE_DIR=/tmp/inductor .venv/bin/python bench/torch_compile_cost.py comm
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(name: str) -> None:
    import torch

    from bench import _regime

    study = _regime.plan()
    with _regime.trial_conditions():
        eager, compiled = _regime.setup(study, name), _regime.setup(study, name)
        attr = "loss_of_copies" if name == "comm" else "loss_of_views"
        setattr(compiled.method, attr, torch.compile(getattr(compiled.method, attr)))
        batches = eager.epoch(1)
        start, cpu = time.perf_counter(), time.process_time()
        compiled.steps(batches[:2], 0)
        print(f"first two compiled steps: {time.perf_counter() - start:.1f} s wall, "
              f"{time.process_time() - cpu:.1f} s CPU in this process (inductor cache "
              f"{os.environ.get('TORCHINDUCTOR_CACHE_DIR', 'default')})")
        eager.steps(batches[:3], 0)
        times: dict[str, list[float]] = {"eager": [], "compiled": []}
        for r in range(7):
            for label, run in (("eager", eager), ("compiled", compiled)):
                start = time.thread_time()
                run.steps(batches[5:25], r)
                times[label].append((time.thread_time() - start) / 20)
    e, c = statistics.median(times["eager"]), statistics.median(times["compiled"])
    print(f"{name}: eager {1e3 * e:.2f} ms/step, compiled {1e3 * c:.2f} ms/step "
          f"({c / e:.3f}x); load average {_regime.load_average()}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "comm")
