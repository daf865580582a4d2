"""Time a piece of code the way benchmarks do: the median of many calls, after a warm-up.

Used by 05, 06 and ``benchmarks/predict_latency.py``. Taught in 05 and 06.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(call: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """The median wall-clock time of ``call()`` over ``repeats`` calls, in seconds.

    The first ``warmup`` calls are not counted (they compile, allocate and fill caches). The
    median, unlike the mean, is not pulled up by the odd call that the operating system
    interrupted.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def training_step_seconds(
    models: dict[str, object],
    x: object,
    y: object,
    rounds: int = 5,
    repeats: int = 10,
) -> dict[str, float]:
    """The median time of one training step (``model.train_on_batch(x, y)``) of each model.

    The models are timed side by side, in ``rounds`` alternating rounds of ``repeats`` steps
    each, so that whatever else the machine is doing slows them all alike: far fairer than
    comparing epoch times measured minutes apart. Each model must be compiled; its weights
    change (it trains), so pass fresh copies, not the models you want to keep.

    Returns:
        seconds per step, by model name (the median over all rounds' medians).

    Taught in 05.
    """
    if not models:
        raise ValueError("models is empty: pass a dict of compiled Keras models by name")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive integer, got {rounds!r}")
    per_round: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            step = lambda model=model: model.train_on_batch(x, y)  # noqa: E731
            per_round[name].append(median_seconds(step, repeats=repeats))
    return {name: statistics.median(times) for name, times in per_round.items()}
