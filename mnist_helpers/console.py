"""Keep TensorFlow's and Jupyter's start-up chatter (harmless lines a learner reads as
errors) out of what the course's commands print; every other line, errors included, shows.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator

#: Lines that are start-up chatter, not problems (each pattern matches a whole line's start).
NOISE_PATTERNS = (
    # absl's notice before TensorFlow sets up its logging
    re.compile(r"WARNING: All log messages before absl::InitializeLog\(\) is called"),
    # absl INFO and WARNING lines: I0000 00:00:1795934413.955597    7521 cudart_stub.cc:31] ...
    re.compile(r"[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] "),
    # TensorFlow's own INFO and WARNING lines: 2026-11-29 06:00:00.000000: I tensorflow/...] ...
    re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] \S+:\d+\] "),
    # the second line of the CPU-instructions notice
    re.compile(r"To enable the following instructions: .* rebuild TensorFlow"),
    # LiteRT, the first time it allocates a model's tensors
    re.compile(r"INFO: Created TensorFlow Lite XNNPACK delegate for CPU"),
    # Jupyter's kernel, talking to papermill on this machine only (127.0.0.1)
    re.compile(r"\[IPKernelApp\] WARNING \| Kernel is running over TCP without encryption"),
)


def is_noise(line: str) -> bool:
    """Whether ``line`` is start-up chatter (see :data:`NOISE_PATTERNS`), not a problem."""
    return any(pattern.match(line) for pattern in NOISE_PATTERNS)


def without_noise(text: str) -> str:
    """``text`` without its lines of start-up chatter (the other lines unchanged, in order)."""
    return "".join(line for line in text.splitlines(keepends=True) if not is_noise(line))


def forward_without_noise(text: str) -> None:
    """Write ``text`` to standard error, without its start-up chatter."""
    kept = without_noise(text)
    if kept:
        sys.stderr.write(kept)
        sys.stderr.flush()


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Inside the block, standard error (file descriptor 2, so C++ output too) goes to a
    temporary file; at the end its lines that are not start-up chatter are passed on."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            forward_without_noise(capture.read().decode(errors="replace"))


@contextlib.contextmanager
def quiet_tensorflow() -> Iterator[None]:
    """Keep TensorFlow's start-up chatter off the terminal inside the block: its C++ logging is
    set to errors only (``TF_CPP_MIN_LOG_LEVEL=3``, unless set already) and the lines that
    still reach standard error are filtered as :func:`quiet_stderr` does."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet_stderr():
        yield
