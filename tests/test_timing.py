"""Tests of mnist_helpers.timing."""

from __future__ import annotations

import time

import pytest

from mnist_helpers.timing import median_seconds


def test_median_seconds_ignores_the_warm_up_and_the_odd_slow_call():
    calls = []

    def call():
        calls.append(None)
        time.sleep(0.05 if len(calls) in (1, 4) else 0.001)  # a slow first call, one hiccup

    seconds = median_seconds(call, repeats=5, warmup=1)
    assert len(calls) == 6
    assert 0.0005 < seconds < 0.02


@pytest.mark.parametrize("repeats", [0, -1, 2.5, True])
def test_bad_repeats_are_refused(repeats):
    with pytest.raises(ValueError, match="repeats must be a positive integer"):
        median_seconds(lambda: None, repeats)
