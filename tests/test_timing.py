"""Tests of mnist_helpers.timing."""

from __future__ import annotations

import time

import pytest

from mnist_helpers.timing import median_seconds


def test_median_seconds_ignores_the_warm_up_and_the_odd_slow_call():
    calls = []

    def call():
        calls.append(None)
        time.sleep(0.05 if len(calls) in (1, 5) else 0.001)  # a slow first call, one hiccup

    seconds = median_seconds(call, repeats=5)
    assert len(calls) == 7  # two warm-up calls, then five timed
    assert 0.0005 < seconds < 0.02


@pytest.mark.parametrize("repeats", [0, -1, 2.5, True])
def test_bad_repeats_are_refused(repeats):
    with pytest.raises(ValueError, match="repeats must be a positive integer"):
        median_seconds(lambda: None, repeats)


class FakeModel:
    """Stands in for a compiled Keras model: records its steps, each taking ``seconds``."""

    def __init__(self, seconds, log, name):
        self.seconds, self.log, self.name = seconds, log, name

    def train_on_batch(self, x, y):
        self.log.append(self.name)
        time.sleep(self.seconds)


def test_training_step_seconds_times_the_models_side_by_side_in_rounds():
    from mnist_helpers.timing import training_step_seconds

    log = []
    models = {"fast": FakeModel(0.001, log, "fast"), "slow": FakeModel(0.006, log, "slow")}
    seconds = training_step_seconds(models, x=None, y=None, rounds=3, repeats=2)
    assert set(seconds) == {"fast", "slow"}
    assert seconds["slow"] > 3 * seconds["fast"] > 0
    # 3 rounds, each: fast (2 warm-up + 2 timed), then slow (the same): interleaved
    assert log == (["fast"] * 4 + ["slow"] * 4) * 3


def test_training_step_seconds_refuses_no_models_and_bad_rounds():
    from mnist_helpers.timing import training_step_seconds

    with pytest.raises(ValueError, match="models is empty"):
        training_step_seconds({}, None, None)
    with pytest.raises(ValueError, match="rounds must be a positive integer, got 0"):
        training_step_seconds({"a": FakeModel(0, [], "a")}, None, None, rounds=0)
