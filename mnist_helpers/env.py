"""Check that this machine is ready for the course, and say how to fix what is not.

Every notebook's first cell calls :func:`check_env`. Taught in 01.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import sys
from pathlib import Path

from mnist_helpers.console import quiet_tensorflow
from mnist_helpers.files import write_text_atomic
from mnist_helpers.paths import project_root

#: The Jupyter kernel that `make run` registers for the course.
KERNEL_NAME = "mnist-cnn-course"
MIN_PYTHON = (3, 11)
#: The checkout this package runs from (where requirements.txt and .venv are, if anywhere).
_CHECKOUT = Path(__file__).resolve().parent.parent


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def display_path(path: str | Path) -> str:
    """``path`` written short: relative inside the course folder (``.venv/bin/python``), with
    ``~`` inside the home folder; keeps user names out of printed notebook outputs."""
    path = Path(path)
    for base, prefix in ((project_root(), ""), (Path.home(), "~/")):
        try:
            return prefix + str(path.relative_to(base))
        except ValueError:
            continue
    return str(path)


def _pinned_versions() -> dict[str, str]:
    """The pins of requirements.txt, when running from a checkout of the course."""
    requirements = _CHECKOUT / "requirements.txt"
    pins = {}
    if requirements.is_file():
        for line in requirements.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                name, version = line.split("==", 1)
                pins[name.strip().lower()] = version.strip()
    return pins


def environment_report() -> tuple[dict[str, str], list[str]]:
    """Return ``(facts, problems)``: what :func:`check_env` prints, by name, and one sentence
    per problem that says how to fix it (imports TensorFlow: a few seconds the first time)."""
    from mnist_helpers import __version__

    facts: dict[str, str] = {
        "python": platform.python_version(),
        "mnist_helpers": __version__,
        "executable": display_path(sys.executable),
    }
    problems: list[str] = []
    if sys.version_info[:2] < MIN_PYTHON:
        problems.append(
            f"Python {platform.python_version()} is too old: the course needs 3.11 or newer "
            "(install a newer Python, then `make run` builds .venv with it)."
        )
    for package in ("tensorflow", "keras", "numpy", "pandas", "matplotlib"):
        facts[package] = _version(package) or "missing"
        if facts[package] == "missing":
            problems.append(
                f"{package} is not installed: run `make run` (or pip install -r requirements.txt)."
            )
    for package, pinned in _pinned_versions().items():
        installed = _version(package)
        if installed is not None and installed != pinned and package in facts:
            problems.append(
                f"{package} {installed} is installed but the course pins {pinned}: "
                "results may differ; run `make run` to use the course's .venv."
            )

    facts["keras backend"] = os.environ.get("KERAS_BACKEND", "tensorflow")
    if facts["keras backend"] != "tensorflow":
        problems.append(
            f"KERAS_BACKEND is {facts['keras backend']!r}: the course is written for "
            "'tensorflow'; unset it or `export KERAS_BACKEND=tensorflow`."
        )
    if facts["tensorflow"] != "missing":
        with quiet_tensorflow():
            import tensorflow as tf

        gpus = len(tf.config.list_physical_devices("GPU"))
        facts["devices"] = f"{os.cpu_count()} CPU cores, " + (f"{gpus} GPU" if gpus else "no GPU")
        threads = tf.config.threading.get_intra_op_parallelism_threads()
        facts["tensorflow threads"] = str(threads or "auto")

    in_kernel = "ipykernel" in sys.modules
    facts["kernel"] = (
        f"Jupyter kernel running {display_path(sys.executable)}" if in_kernel else "not in Jupyter"
    )
    venv = _CHECKOUT / ".venv"
    if in_kernel and venv.is_dir() and Path(sys.prefix).resolve() != venv.resolve():
        problems.append(
            f"this kernel runs {sys.executable}, not the course's .venv: in JupyterLab pick the "
            f"kernel '{KERNEL_NAME}' (Kernel > Change Kernel), or start it with `make lab`."
        )

    from mnist_helpers.download import MNIST_FILES, cache_dir  # numpy, urllib: not at import

    cache = cache_dir()
    cached = all((cache / name).is_file() for name in MNIST_FILES)
    facts["data cache"] = f"{display_path(cache)} ({'ready' if cached else 'empty'})"
    if os.environ.get("MNIST_DATA_DIR"):
        facts["MNIST_DATA_DIR"] = os.environ["MNIST_DATA_DIR"]
    elif not cached:
        problems.append(
            "MNIST is not downloaded yet: run `make data` (or `python -m mnist_helpers.data`)."
        )
    return facts, problems


def check_env(verbose: bool = False) -> bool:
    """Print ``environment OK: ...`` in one line when all is well, else (or with ``verbose``)
    the table of versions, devices, kernel and data cache, then one ``PROBLEM:`` line per
    problem, each saying how to fix it. Returns ``True`` when no problem was found.

    Taught in 01 (and called at the top of every notebook).
    """
    facts, problems = environment_report()
    if problems or verbose:
        width = max(len(k) for k in facts)
        for key, value in facts.items():
            print(f"{key:<{width}}  {value}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    if not problems and verbose:
        print("environment OK")
    elif not problems:
        print(
            f"environment OK: Python {facts['python']}, TensorFlow {facts.get('tensorflow')}, "
            f"Keras {facts.get('keras')}; devices: {facts.get('devices', 'unknown')}"
        )
    return not problems


def install_kernel(prefix: str | None = None) -> Path:
    """Register the course's Jupyter kernel in this environment and return its folder: this
    Python, with TensorFlow's C++ logging silenced and low-level output not forwarded into
    cells (``make run`` and ``make test`` call it)."""
    from ipykernel.kernelspec import install

    folder = Path(
        install(
            kernel_name=KERNEL_NAME,
            display_name="Python (MNIST CNN course)",
            prefix=prefix or sys.prefix,
            env={"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore::DeprecationWarning"},
        )
    )
    spec_path = folder / "kernel.json"
    spec = json.loads(spec_path.read_text())
    flag = "--IPKernelApp.capture_fd_output=False"
    if flag not in spec["argv"]:
        spec["argv"].append(flag)
    write_text_atomic(spec_path, json.dumps(spec, indent=1))
    return folder
