"""Hypothesis strategies of small simulated worlds, for property tests of any stage.

Needs the ``dev`` extra (hypothesis); importing ``seedcart.sim`` does not import this module.

>>> @given(world_configs())                                 # doctest: +SKIP
... def test_my_stage(config): ...
"""

from __future__ import annotations

from hypothesis import strategies as st

from seedcart.sim.config import Faults, WorldConfig


def world_configs(*, max_users: int = 160, max_days: int = 12,
                  faults: st.SearchStrategy[Faults] | None = None) -> st.SearchStrategy[WorldConfig]:
    """Small worlds of every shape: few or many brands, notes and products, holdouts, faults on or off."""
    return st.builds(
        WorldConfig,
        users=st.integers(20, max_users),
        days=st.integers(1, max_days),
        seed=st.integers(0, 2**31 - 1),
        brands=st.integers(1, 12),
        notes_per_brand=st.integers(1, 12),
        products_per_brand=st.integers(1, 5),
        block_users=st.integers(16, 200),
        holdout=st.sampled_from([0.0, 0.3, 0.6]),
        conversion_scale=st.sampled_from([1.0, 5.0]),
        unbranded_notes_per_brand=st.sampled_from([0, 6]),
        faults=faults if faults is not None else st.sampled_from([Faults(), Faults.off()]),
    )
