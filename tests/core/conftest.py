"""tests/core: make the shared Hypothesis strategies (`core_strategies.py`) importable.

The suite runs in importlib mode, where test folders are not on sys.path; the helper module
has a name unique to this area so it cannot shadow another area's helpers.
"""

import sys
from pathlib import Path

import pytest
import torch

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors gain nothing from intra-op threads, and on a loaded 2-core machine two
    spinning threads per worker made the n_squared loss ~27x slower (0.064 s vs 0.0023 s
    CPU per call, measured). Scoped to this folder and restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
