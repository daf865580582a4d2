"""What every browser test needs: Debian's Chromium found, a skip (or, under CI, a failure)
that says how to get it, a static file server, and a busy loop on every core.

The fixtures that use these (``browser``, ``page``, ``screenshots``) are in tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
HOW_TO_GET_IT = (
    "install Debian's Chromium (`sudo apt-get install -y chromium`) and the web requirements "
    "(`make site`, or `.venv/bin/pip install -r requirements-web.lock`)"
)


def unavailable(message: str):
    """Skip with ``message`` locally; fail under CI, where the browser tests must run."""
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(message)


def chromium_path() -> str | None:
    """Debian's Chromium: ``$CHROMIUM_PATH``, a usual place, or ``chromium`` on PATH."""
    candidates = [os.environ.get("CHROMIUM_PATH"), *CHROMIUM_PATHS, shutil.which("chromium")]
    return next((path for path in candidates if path and os.path.isfile(path)), None)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request in the test output
        pass


@contextlib.contextmanager
def static_server(folder: Path) -> Iterator[str]:
    """Serve ``folder`` as any static file server would (Python's ``http.server``) on a free
    port of 127.0.0.1 while inside; yields its URL, without a trailing slash."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def every_core_busy():
    """A busy loop on every core while inside, as on a loaded classroom laptop or CI machine."""
    loops = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(os.cpu_count() or 1)
    ]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
        for loop in loops:
            loop.wait()


def draw_stroke(page, box: dict, stroke, steps: int = 10) -> None:
    """Draw one stroke with the mouse, as a person does: pen down at the first point, through
    the others in ``steps`` moves each, pen up. ``stroke`` is ``(x, y)`` fractions of ``box``
    (an element's ``bounding_box()``)."""
    points = [(box["x"] + box["width"] * x, box["y"] + box["height"] * y) for x, y in stroke]
    page.mouse.move(*points[0])
    page.mouse.down()
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        for step in range(1, steps + 1):
            page.mouse.move(x0 + (x1 - x0) * step / steps, y0 + (y1 - y0) * step / steps)
    page.mouse.up()
