"""The in-memory filter of dedupe keys: never misses a key it was given, however many; wrongly holds
only a small share of the others."""

from __future__ import annotations

import random
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from seedcart.collect.keyfilter import KeyFilter


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.text(max_size=30), max_size=300), max_size=8), st.integers(1, 2000))
def test_a_key_given_is_always_held(batches: list[list[str]], capacity: int) -> None:
    key_filter = KeyFilter(capacity=capacity)
    for batch in batches:
        key_filter.add(batch)
    given_keys = [key for batch in batches for key in batch]
    assert key_filter.might_hold(given_keys) == given_keys
    assert key_filter.keys == len(given_keys)


def test_it_grows_past_its_capacity_keeping_false_positives_near_one_percent() -> None:
    rng = random.Random(7)
    keys = [f"t:{uuid.UUID(int=rng.getrandbits(128), version=4)}" for _ in range(60_000)]
    others = [f"t:{uuid.UUID(int=rng.getrandbits(128), version=4)}" for _ in range(20_000)]
    key_filter = KeyFilter(capacity=5_000)  # far too small: parts are added as it fills
    for i in range(0, len(keys), 1_000):
        key_filter.add(keys[i:i + 1_000])
    assert key_filter.might_hold(keys) == keys
    wrongly = len(key_filter.might_hold(others)) / len(others)
    assert wrongly < 0.03, wrongly
