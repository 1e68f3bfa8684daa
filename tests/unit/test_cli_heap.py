"""A command's read report is skipped by collections while the command runs, and collectable once it ends."""

from __future__ import annotations

import gc

import pytest

from certops.cli._heap import kept_until_done


def test_what_exists_is_frozen_within_the_block_and_collectable_after_it_even_after_an_error():
    report = [object() for _ in range(1000)]
    with kept_until_done():
        assert gc.get_freeze_count() >= len(report)
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), kept_until_done():
        raise RuntimeError("the command failed")
    assert gc.get_freeze_count() == 0  # a caller in a longer-lived process (a test) loses nothing
