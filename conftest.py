"""Test-session set-up shared by the unit tests (tests/) and the notebook checks (notebooks/).

Runs and figures made while testing go to a temporary folder, never into your own ``runs/``
or the committed ``figures/``; the notebook kernels started by nbval and papermill inherit
these variables.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

# 05's full profile trains for about an hour and 07's for about twenty minutes: nbval does not
# re-run them; the papermill smoke run in tests/test_notebooks.py executes them instead.
collect_ignore = ["notebooks/05_going_further.ipynb", "notebooks/07_when_the_data_shifts.ipynb"]

_session_dir = tempfile.mkdtemp(prefix="mnist-course-tests-")
os.environ.setdefault("MNIST_RUNS_DIR", os.path.join(_session_dir, "runs"))
os.environ.setdefault("MNIST_FIGURES_DIR", os.path.join(_session_dir, "figures"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_unconfigure(config):
    shutil.rmtree(_session_dir, ignore_errors=True)


#: Notebooks whose nbval check evaluates the run that 03 trains (``runs/default``).
NEEDS_03_RUN = {"04_evaluation.ipynb", "06_your_own_digits.ipynb"}


def _ensure_03_run(why: str) -> Path:
    """03's default run (``runs/default``), executing 03 first when it is missing."""
    runs = Path(os.environ["MNIST_RUNS_DIR"])
    if not (runs / "default" / "metrics.json").is_file():
        from mnist_helpers.course import execute_notebook, notebook_paths

        source = next(p for p in notebook_paths() if p.name.startswith("03_"))
        print(f"\n{why} needs 03's run: executing {source.name} first (a few minutes)")
        execute_notebook(source, runs / "notebooks" / source.name)
    return runs / "default"


def pytest_runtest_setup(item):
    """Before the first cell of 04 or 06, make sure 03's default run exists.

    nbval checks 03 first when it collects all the notebooks, and that run is reused; when 04
    or 06 is checked alone (``pytest notebooks/04_evaluation.ipynb``) or in another order, 03
    is executed here first, with its default parameters, so the result never depends on the
    order of the tests.
    """
    notebook = os.path.basename(str(item.fspath))
    if notebook in NEEDS_03_RUN:
        _ensure_03_run(notebook)


@pytest.fixture(scope="session")
def default_run() -> Path:
    """The model of 03's default run (``runs/default/model.keras``), trained first if missing."""
    return _ensure_03_run("this test") / "model.keras"


@pytest.fixture(scope="session")
def free_port():
    """``free_port()``: a loopback port that nothing listens on, for a server a test starts.

    The port is free when it is picked; the server binds it a moment later.
    """

    def pick() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    return pick


def pytest_collection_modifyitems(items):
    """The browser tests go last: they reuse the default run that nbval's 03 trains."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
