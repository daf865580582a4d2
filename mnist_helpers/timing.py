"""Time a piece of code as benchmarks do: the median of many calls, after a warm-up.
Taught in 06 and 08."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from mnist_helpers.checks import check_int


def median_seconds(call: Callable[[], object], repeats: int) -> float:
    """The median wall-clock time of ``call()`` over ``repeats`` calls, in seconds, after two
    uncounted warm-up calls (they compile and fill caches); the median ignores the odd call
    the system interrupted."""
    repeats = check_int("repeats", repeats, hint="e.g. repeats=10")
    for _ in range(2):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def training_step_seconds(
    models: dict[str, object], x: object, y: object, rounds: int = 5, repeats: int = 10
) -> dict[str, float]:
    """The median seconds of one ``model.train_on_batch(x, y)`` of each compiled model, by
    name: timed side by side in ``rounds`` alternating rounds of ``repeats`` steps, so that
    whatever else the machine does slows them all alike. The models train: pass fresh copies.
    Taught in 08."""
    if not models:
        raise ValueError("models is empty: pass a dict of compiled Keras models by name")
    rounds = check_int("rounds", rounds, hint="e.g. rounds=5")
    per_round: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            step = lambda model=model: model.train_on_batch(x, y)  # noqa: E731
            per_round[name].append(median_seconds(step, repeats))
    return {name: statistics.median(times) for name, times in per_round.items()}
