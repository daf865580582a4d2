"""Where the course keeps its runs and figures, and its downloads cache.

Both live at the top of the course checkout (``runs/``, ``figures/``) whatever folder a
notebook runs in; ``MNIST_RUNS_DIR`` and ``MNIST_FIGURES_DIR`` move them (the tests do, so a
test run never overwrites your own runs or the committed figures).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def project_root() -> Path:
    """The course checkout this package was installed from (editable install), else the cwd."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else Path.cwd()


def runs_dir() -> Path:
    """The folder that holds one sub-folder per training run: ``MNIST_RUNS_DIR`` or ``runs/``."""
    return Path(os.environ.get("MNIST_RUNS_DIR") or project_root() / "runs")


def figures_dir() -> Path:
    """The folder the notebooks save their figures to: ``MNIST_FIGURES_DIR`` or ``figures/``."""
    return Path(os.environ.get("MNIST_FIGURES_DIR") or project_root() / "figures")


def user_cache_dir() -> Path:
    """The course's folder in the user's cache: ``mnist_helpers`` inside ``$XDG_CACHE_HOME``
    or ``~/.cache`` (on Windows ``%LOCALAPPDATA%``). Nothing is created here."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"])
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mnist_helpers"
