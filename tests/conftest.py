"""Suite-wide settings. Area fixtures live in tests/<area>/conftest.py."""

from hypothesis import HealthCheck, settings

# Derandomized so CI is reproducible; no deadline because the machine is shared and small.
settings.register_profile(
    "default",
    deadline=None,
    derandomize=True,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("default")

# The suite runs as `pytest -n 2` on 2 cores: one torch thread per worker avoids the
# oversubscription that made small losses ~27x slower (measured in tests/core).
try:
    import torch
except ImportError:  # pragma: no cover - torch is a core dependency
    pass
else:
    torch.set_num_threads(1)
