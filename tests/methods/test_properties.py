"""Hypothesis properties of the methods' plumbing (any mask pattern, any row order)."""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robustlab.methods import METHODS
from robustlab.methods.fusion import nt_xent

ROWS = 6
masks = st.lists(st.booleans(), min_size=ROWS, max_size=ROWS)


# The fixtures are stateless factories, so sharing them across examples is safe.
@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(METHODS.names()), a=masks, b=masks, c=masks,
       seed=st.integers(0, 2**16))
def test_masked_values_never_matter(name, a, b, c, seed, build, make_batch):
    """For any mask pattern, replacing the values of masked-out entries changes no score and
    no probe feature."""
    model = build(name).eval()
    batch = make_batch(seed % 7, size=ROWS)
    mask = {m: torch.tensor(v) for m, v in zip("abc", (a, b, c), strict=True)}
    noise = torch.Generator().manual_seed(seed)
    dirty_x = {m: torch.where(mask[m][:, None], x, torch.randn(x.shape, generator=noise) * 50)
               for m, x in batch.x.items()}
    clean = dataclasses.replace(batch, mask=mask)
    dirty = dataclasses.replace(batch, mask=mask, x=dirty_x)
    with torch.no_grad():
        cands = model.encode_candidates("a", batch.x["a"])
        torch.testing.assert_close(model.score("a", model.encode_query(clean, "a"), cands),
                                   model.score("a", model.encode_query(dirty, "a"), cands))
        torch.testing.assert_close(model.features(clean), model.features(dirty))


@settings(max_examples=30)
@given(seed=st.integers(0, 2**16), n=st.integers(2, 12), tau=st.floats(0.05, 2.0))
def test_nt_xent_is_invariant_to_reordering_examples(seed, n, tau):
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(n, 5, generator=g), torch.randn(n, 5, generator=g)
    order = torch.randperm(n, generator=g)
    torch.testing.assert_close(nt_xent(z1, z2, tau), nt_xent(z1[order], z2[order], tau))
    torch.testing.assert_close(nt_xent(z1, z2, tau), nt_xent(z2, z1, tau))  # symmetric views

