"""Test-session set-up shared by the unit tests (tests/) and the notebook checks (notebooks/).

Runs and figures made while testing go to a temporary folder, never into your own ``runs/``
or the committed ``figures/``; the notebook kernels started by nbval and papermill inherit
these variables.

Each notebook runs once per profile in a test session:

- the course run (``course_run`` below) runs every notebook once at the smoke profile, as
  ``make run PROFILE=smoke RUN_NAME=smoke`` does; the smoke checks, the comparison of 01, 02,
  03, 05 and 06 with their committed outputs, the browser tests and a sweep test read its files.
  When a session has tests that read it, it starts as soon as they are collected and works
  beside the other tests, which run first.
- nbval runs 04 at its default profile (its checked outputs are those of the full recipe), and
  nothing else: the other notebooks' checked outputs do not depend on the profile and are
  compared in the course run's executed copies instead.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

# nbval re-executes 04 only: see the module's docstring.
collect_ignore = [
    f"notebooks/{name}"
    for name in (
        "01_data_exploration.ipynb",
        "02_how_a_network_learns.ipynb",
        "03_building_a_cnn.ipynb",
        "05_evaluation.ipynb",
        "06_your_own_digits.ipynb",
        "07_when_the_data_shifts.ipynb",
        "08_going_further.ipynb",
    )
]

ROOT = Path(__file__).parent
#: The environment before any test changed it (the course run's process starts from it).
_ENVIRONMENT = dict(os.environ)
_session_dir = tempfile.mkdtemp(prefix="mnist-course-tests-")
os.environ.setdefault("MNIST_RUNS_DIR", os.path.join(_session_dir, "runs"))
os.environ.setdefault("MNIST_FIGURES_DIR", os.path.join(_session_dir, "figures"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

#: The parameters of the session's course run (``make run PROFILE=smoke RUN_NAME=smoke``).
COURSE_RUN_PARAMETERS = {"profile": "smoke", "run_name": "smoke"}
#: Seconds the course run may take before it is stopped (it takes a few minutes).
COURSE_RUN_TIMEOUT = 1800


@dataclass
class CourseRun:
    """The session's course run: its runs folder (the runs, ``notebooks/`` with the executed
    notebooks, ``figures/``), what it printed and its exit status."""

    runs: Path
    process: subprocess.Popen
    figures_before: dict
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None
    committed_figures_untouched: bool = False

    @property
    def executed(self) -> Path:
        return self.runs / "notebooks"

    def wait(self) -> CourseRun:
        """Wait until the run has finished (stopping it if it is still running after
        ``COURSE_RUN_TIMEOUT`` s more)."""
        if self.returncode is None:
            try:
                self.process.wait(timeout=COURSE_RUN_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.stop()
            self.returncode = self.process.wait()
            self.stdout = (self.runs.parent / "stdout.txt").read_text(errors="replace")
            self.stderr = (self.runs.parent / "stderr.txt").read_text(errors="replace")
            if self.returncode == -signal.SIGKILL:
                self.stderr += f"\nstopped after {COURSE_RUN_TIMEOUT} s"
            self.committed_figures_untouched = _files(ROOT / "figures") == self.figures_before
        return self

    def stop(self) -> None:
        """Stop the run (its kernel notices, and stops too)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)

    def check(self) -> None:
        """Fail the calling test, with the run's error output, if the run failed."""
        if self.wait().returncode != 0:
            pytest.fail(
                f"the course run failed (exit {self.returncode}):\n{self.stderr[-5000:]}",
                pytrace=False,
            )

    def notebook(self, prefix: str):
        """The executed notebook whose name starts with ``prefix`` ("06")."""
        import nbformat

        self.check()
        (path,) = self.executed.glob(f"{prefix}_*.ipynb")
        return nbformat.read(path, as_version=4)


_course_runs: list[CourseRun] = []  # the session's course run, once started


def _start_course_run() -> CourseRun:
    """Start ``python -m mnist_helpers.course run -p profile smoke -p run_name smoke`` in a
    process of its own (see ``course_run``); return it, running."""
    folder = Path(tempfile.mkdtemp(prefix="course-run-", dir=_session_dir))
    env = {
        key: value
        for key, value in _ENVIRONMENT.items()
        if key not in ("TF_CPP_MIN_LOG_LEVEL", "MNIST_FIGURES_DIR")
    }
    env |= {"MNIST_RUNS_DIR": str(folder / "runs"), "MNIST_OFFLINE": "1"}
    command = [sys.executable, "-m", "mnist_helpers.course", "run"]
    for name, value in COURSE_RUN_PARAMETERS.items():
        command += ["-p", name, value]
    before = _files(ROOT / "figures")
    with open(folder / "stdout.txt", "w") as out, open(folder / "stderr.txt", "w") as err:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,  # a group of its own: Ctrl-C in the terminal does not reach it
        )
    _course_runs.append(CourseRun(folder / "runs", process, before))
    return _course_runs[-1]


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    """Each file of ``folder``: its size and modification time."""
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


def _reads_the_course_run(item) -> bool:
    return "course_run" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(items):
    """nbval's cells are notebook tests (``-m notebooks`` selects them); the tests that read
    the course run go last, so that the others run while it works."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebooks)
    items.sort(key=_reads_the_course_run)


def pytest_collection_finish(session):
    """Start the course run now if a selected test reads it."""
    if not session.config.option.collectonly and any(map(_reads_the_course_run, session.items)):
        _start_course_run()


def pytest_unconfigure(config):
    for run in _course_runs:
        run.stop()
    shutil.rmtree(_session_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def course_run() -> CourseRun:
    """``python -m mnist_helpers.course run -p profile smoke -p run_name smoke`` (what
    ``make run PROFILE=smoke RUN_NAME=smoke`` runs), once for the whole session, in a process
    of its own, on the cached real MNIST files (offline); waited for here.

    Every notebook runs once: 01, 02 and 03 with their defaults (they declare neither parameter),
    04, 07 and 08 at their smoke size, 05 and 06 on 04's run ``smoke``. Runs and executed
    notebooks go to a temporary ``runs/`` folder; no figures folder is set, so they go where a
    learner's run puts them, ``runs/figures/``. TensorFlow's log level is not set either: the
    output is what a learner's terminal shows.
    """
    return (_course_runs[0] if _course_runs else _start_course_run()).wait()


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
