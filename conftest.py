"""Test-session set-up shared by the unit tests (tests/) and the notebook checks (notebooks/).

Runs and figures made while testing go to a temporary folder, never into your own ``runs/``
or the committed ``figures/``; the notebook kernels started by nbval and papermill inherit
these variables.
"""

from __future__ import annotations

import os
import shutil
import tempfile

# 05's full profile trains for about an hour: nbval does not re-run it; the papermill smoke
# run in tests/test_notebooks.py executes it instead.
collect_ignore = ["notebooks/05_going_further.ipynb"]

_session_dir = tempfile.mkdtemp(prefix="mnist-course-tests-")
os.environ.setdefault("MNIST_RUNS_DIR", os.path.join(_session_dir, "runs"))
os.environ.setdefault("MNIST_FIGURES_DIR", os.path.join(_session_dir, "figures"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_unconfigure(config):
    shutil.rmtree(_session_dir, ignore_errors=True)
