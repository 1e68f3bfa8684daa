"""What a command or renewal holds is skipped by collections while it runs, and collectable once it ends."""

from __future__ import annotations

import gc
import threading

import pytest

from certops.heap import kept_until_done


def test_what_exists_is_frozen_within_the_block_and_collectable_after_it_even_after_an_error():
    report = [object() for _ in range(1000)]
    with kept_until_done():
        assert gc.get_freeze_count() >= len(report)
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), kept_until_done():
        raise RuntimeError("the command failed")
    assert gc.get_freeze_count() == 0  # a caller in a longer-lived process (a test) loses nothing


def test_overlapping_blocks_give_the_objects_back_only_when_the_last_one_ends():
    inside, leave = threading.Event(), threading.Event()

    @kept_until_done()
    def other_renewal() -> None:
        inside.set()
        leave.wait()

    worker = threading.Thread(target=other_renewal)
    worker.start()
    inside.wait()
    with kept_until_done():
        pass  # this renewal ends first
    assert gc.get_freeze_count() > 0  # the other one still runs: its objects stay frozen
    leave.set()
    worker.join()
    assert gc.get_freeze_count() == 0
