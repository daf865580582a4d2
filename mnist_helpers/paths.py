"""Where the course keeps its runs and figures (``runs/``, ``figures/`` at the top of the
checkout, or ``MNIST_RUNS_DIR`` and ``MNIST_FIGURES_DIR``), and its downloads cache."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

#: Folders of ``runs/`` that hold something else than a training run.
RESERVED_RUN_NAMES = ("figures", "notebooks", "sweeps")


def project_root() -> Path:
    """The course checkout this package was installed from (editable install), else the cwd."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else Path.cwd()


def runs_dir() -> Path:
    """The folder that holds one sub-folder per training run: ``MNIST_RUNS_DIR`` or ``runs/``."""
    return Path(os.environ.get("MNIST_RUNS_DIR") or project_root() / "runs")


def check_run_name(run_name: object) -> str:
    """Return ``run_name`` if it is a plain folder name for ``runs/`` (1 to 100 letters,
    digits, ``.``, ``_`` or ``-``, not starting with ``.``, not one of
    :data:`RESERVED_RUN_NAMES`), else raise a ValueError."""
    if not isinstance(run_name, str) or not re.fullmatch(
        r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}", run_name
    ):
        raise ValueError(
            "run_name must be a plain folder name: 1 to 100 letters, digits, '.', '_' or '-', "
            f"not starting with '.', got {run_name!r} (e.g. run_name='default')"
        )
    if run_name in RESERVED_RUN_NAMES:
        raise ValueError(
            f"run_name {run_name!r} is taken by the course's own runs/{run_name}/ folder: "
            "choose another (e.g. run_name='default')"
        )
    return run_name


def figures_dir() -> Path:
    """The folder the notebooks save their figures to: ``MNIST_FIGURES_DIR`` or ``figures/``."""
    return Path(os.environ.get("MNIST_FIGURES_DIR") or project_root() / "figures")


def user_cache_dir() -> Path:
    """``mnist_helpers`` in the user's cache: ``$XDG_CACHE_HOME``, ``~/.cache`` or, on Windows,
    ``%LOCALAPPDATA%`` (nothing is created)."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"])
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "mnist_helpers"
