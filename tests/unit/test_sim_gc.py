"""The simulation steadies the cyclic garbage collector while its loop runs (issue 10) and gives the process
its settings back at the end, nested runs included."""

from __future__ import annotations

import gc

from growthloop.simulation import _steady_gc


def test_the_collector_is_given_back_as_it_was() -> None:
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with _steady_gc(threshold=12_345):
        assert gc.get_threshold()[0] == 12_345 and gc.get_freeze_count() > frozen
        with _steady_gc(threshold=99):  # a second simulation in the same process changes nothing more
            assert gc.get_threshold()[0] == 12_345
        assert gc.get_threshold()[0] == 12_345
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
