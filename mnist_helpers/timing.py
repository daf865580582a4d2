"""Time a piece of code the way benchmarks do: the median of many calls, after a warm-up.

Used by 06 and ``benchmarks/predict_latency.py``. Taught in 06.
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
