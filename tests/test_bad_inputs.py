"""Every command of the course fed bad input, the way a careless or a hostile user would.

Each case runs one command (``python -m mnist_helpers.<tool> ...``) in a process of its own,
inside a sandbox (its own home, cache, runs and figures folders), and checks what a user
relies on:

- a short message on standard error that says what was wrong, and no traceback;
- a non-zero exit;
- nothing written: the sandbox and the course checkout are as they were;
- bounded memory: the command's peak resident memory stays under :data:`MAX_RSS` (TensorFlow
  alone takes about 0.6 GB; the bombs below would take 6 to 8 GB if read whole).

The cases are grouped by the kind of input: files, models, grids and parameters. The unit
tests of each module check the same faults function by function; these check the commands.
"""

from __future__ import annotations

import gzip
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mnist_helpers.paths import project_root

pytestmark = pytest.mark.slow  # 36 commands, each a Python of its own: about 90 s

#: The most resident memory one command may take, in bytes.
MAX_RSS = 2.5 * 1024**3
#: Seconds a command may take before it is stopped (a bad input is refused in a few).
TIMEOUT = 120
#: The folders of the course checkout that no bad input may write to.
WATCHED = ("", "notebooks", "figures", "runs", "sweeps", "app")


@dataclass
class Case:
    """One bad input: the command's arguments, the files it needs, what it must say."""

    tool: str  # the module of mnist_helpers that is run
    args: list[str]  # "{box}" stands for the sandbox folder
    message: str  # a regular expression that standard error must match
    make: Callable[[Path], None] = field(default=lambda box: None, repr=False)
    exit_code: int | None = None  # None: any non-zero exit


def _run(tool: str, args: list[str], box: Path):
    """Run ``python -m mnist_helpers.<tool> args`` in ``box``; return (rc, stderr, peak RSS)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MNIST_", "XDG_", "DASK_"))
    }
    env |= {
        "HOME": str(box / "home"),
        "XDG_CACHE_HOME": str(box / "cache"),
        "MNIST_RUNS_DIR": str(box / "runs"),
        "MNIST_FIGURES_DIR": str(box / "figures"),
        "MNIST_OFFLINE": "1",
        "MPLCONFIGDIR": str(box / "home" / "matplotlib"),  # its font cache: not a result
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    argv = [sys.executable, "-m", f"mnist_helpers.{tool}"]
    argv += [arg.replace("{box}", str(box)) for arg in args]
    with open(box / ".stderr", "w+b") as err:
        process = subprocess.Popen(
            argv,
            cwd=box / "work",
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        # a command that should have stopped at once but serves or trains is stopped here,
        # with the processes it started (its own session)
        timer = threading.Timer(TIMEOUT, os.killpg, (process.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)  # this child's own peak memory
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            raise
        finally:
            timer.cancel()
        try:  # whatever it left running (a kernel, a server)
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    (box / ".stderr").unlink()
    return process.returncode, stderr, usage.ru_maxrss * 1024  # Linux gives KiB


def _snapshot(folder: Path, recursive: bool = True) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` (a new or removed folder shows through its files): its
    path, size and modification time. A sandbox's
    ``home/`` is left out (Keras writes its settings file there the first time it runs)."""
    if not folder.is_dir():
        return {}
    found = folder.rglob("*") if recursive else folder.iterdir()
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in found
        if path.is_file() and not path.is_symlink() and path.relative_to(folder).parts[0] != "home"
    }


def _checkout_snapshot() -> dict[str, tuple[int, int]]:
    root = project_root()
    state = {}
    for name in WATCHED:
        for path, stat in _snapshot(root / name, recursive=name not in ("",)).items():
            state[f"{name}/{path}"] = stat
    return state


def check_case(case: Case, box: Path) -> None:
    """Run ``case`` in the sandbox ``box`` and assert the four promises of this module."""
    for name in ("home", "cache", "runs", "figures", "work"):
        (box / name).mkdir(parents=True, exist_ok=True)
    case.make(box)
    sandbox_before = _snapshot(box)
    checkout_before = _checkout_snapshot()
    rc, stderr, rss = _run(case.tool, case.args, box)
    shown = f"exit {rc}, stderr:\n{stderr[-3000:]}"
    assert "Traceback" not in stderr, shown
    assert rc != 0, shown
    if case.exit_code is not None:
        assert rc == case.exit_code, shown
    assert re.search(case.message, stderr, re.DOTALL), shown
    assert _snapshot(box) == sandbox_before, "the command wrote in its sandbox"
    assert _checkout_snapshot() == checkout_before, "the command wrote in the course checkout"
    if sys.platform.startswith("linux"):
        assert rss < MAX_RSS, f"peak memory {rss / 1024**3:.1f} GiB"


def _cases(*groups: dict[str, Case]):
    return [pytest.param(case, id=name) for group in groups for name, case in group.items()]


# --------------------------------------------------------------------------- files


def _sparse(path: str, size: int = 6 * 1024**3) -> Callable[[Path], None]:
    """A file of ``size`` bytes that takes no disk (a hole), at ``path`` in the sandbox."""

    def make(box: Path) -> None:
        target = box / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as f:
            f.truncate(size)

    return make


def _gzip_bomb(path: str) -> Callable[[Path], None]:
    """About 70 KB of gzip that inflates to 64 MiB of zeros, at ``path`` in the sandbox."""

    def make(box: Path) -> None:
        target = box / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(gzip.compress(bytes(2**20), 9) * 64)

    return make


def _text(path: str, text: str | bytes) -> Callable[[Path], None]:
    def make(box: Path) -> None:
        target = box / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text if isinstance(text, bytes) else text.encode())

    return make


#: the MNIST cache of a sandbox (``$XDG_CACHE_HOME/mnist_helpers/mnist``)
CACHE = "cache/mnist_helpers/mnist"
#: a YAML "billion laughs": nine levels of ten aliases would be a billion strings
ALIAS_BOMB = 'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]\n' + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n"
    for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)

FILE_CASES = {
    "data: a 6 GiB file in the MNIST cache": Case(
        "data",
        ["--offline"],
        r"6,442,450,944 bytes, expected 47,040,016",
        _sparse(f"{CACHE}/train-images-idx3-ubyte"),
        exit_code=1,
    ),
    "data: a gzip bomb in the data folder": Case(
        "data",
        ["--offline", "--data-dir", "{box}/mine"],
        r"train-images-idx3-ubyte\.gz: inflates to more than 47,040,016 bytes",
        _gzip_bomb("mine/train-images-idx3-ubyte.gz"),
        exit_code=1,
    ),
    "data: a 6 GiB mnist.npz in the data folder": Case(
        "data",
        ["--offline", "--data-dir", "{box}/mine"],
        r"mnist\.npz: 6,442,450,944 bytes, expected 11,490,434",
        _sparse("mine/mnist.npz"),
        exit_code=1,
    ),
    "editions: an output under a file": Case(
        "editions",
        ["student", "--output", "{box}/work/notes.txt/student"],
        r"is a file, not a folder",
        _text("work/notes.txt", "my notes"),
        exit_code=1,
    ),
    "editions: an output that is a folder of yours": Case(
        "editions",
        ["student", "--output", "{box}/work/mine"],
        r"refusing to replace",
        _text("work/mine/thesis.tex", "months of work"),
        exit_code=1,
    ),
}

# --------------------------------------------------------------------------- parameters

PARAMETER_CASES = {
    "course: --only a notebook that does not exist": Case(
        "course",
        ["run", "--only", "99"],
        r"--only 99 matches no notebook; there are 01_",
        exit_code=2,
    ),
    "course: run_name '..' (would write above runs/)": Case(
        "course",
        ["run", "--only", "04", "-p", "run_name", ".."],
        r"run_name must be a plain folder name",
        exit_code=2,
    ),
    "course: a parameter file with a python tag": Case(
        "course",
        ["run", "--params", "{box}/work/p.yaml"],
        r"p\.yaml: line 1: could not determine a constructor",
        _text("work/p.yaml", 'epochs: !!python/object/apply:os.system ["echo hi"]\n'),
        exit_code=2,
    ),
    "course: a parameter file with a syntax error": Case(
        "course",
        ["run", "--params", "{box}/work/p.yaml"],
        r"p\.yaml: line 2:",
        _text("work/p.yaml", "epochs: [1\n"),
        exit_code=2,
    ),
    "course: an alias bomb in a parameter file": Case(
        "course",
        ["run", "--params", "{box}/work/p.yaml"],
        r"anchors \(&name\) and aliases \(\*name\) are not allowed",
        _text("work/p.yaml", ALIAS_BOMB),
        exit_code=2,
    ),
    "course: a parameter file that is not UTF-8": Case(
        "course",
        ["run", "--params", "{box}/work/p.yaml"],
        r"it is not UTF-8 text",
        _text("work/p.yaml", b"\xff\xfeepochs: 3\n"),
        exit_code=2,
    ),
}

# --------------------------------------------------------------------------- grids

GOOD_GRID = "name: x\ngrid: {seed: [1]}\n"

GRID_CASES = {
    "sweep: an alias bomb in a fixed value": Case(
        "sweep",
        ["{box}/work/g.yaml"],
        r"anchors \(&name\) and aliases \(\*name\) are not",
        _text(
            "work/g.yaml",
            "name: x\nfixed:\n  architecture:\n"
            + "".join("    " + line for line in ALIAS_BOMB.splitlines(keepends=True))
            + "grid: {seed: [1]}\n",
        ),
        exit_code=2,
    ),
    "sweep: a grid of 161,051 runs": Case(
        "sweep",
        ["{box}/work/g.yaml"],
        r"makes 161,051 combinations",
        _text(
            "work/g.yaml",
            "name: x\ngrid:\n"
            + "".join(
                f"  {key}: {list(range(1, 12))}\n"
                for key in ("seed", "epochs", "batch_size", "learning_rate", "n_train")
            ),
        ),
        exit_code=2,
    ),
    "sweep: a python tag": Case(
        "sweep",
        ["{box}/work/g.yaml"],
        r"line 2: could not determine a constructor",
        _text(
            "work/g.yaml",
            "name: x\nfixed: {seed: !!python/object/apply:os.system [id]}\ngrid: {epochs: [1]}\n",
        ),
        exit_code=2,
    ),
    "sweep: a syntax error": Case(
        "sweep",
        ["{box}/work/g.yaml"],
        r"g\.yaml: line 3",
        _text("work/g.yaml", "name: x\ngrid: {seed: [1, 2]\n"),
        exit_code=2,
    ),
    "sweep: a folder for a grid": Case(
        "sweep",
        ["{box}/work"],
        r"it is not a file",
        exit_code=2,
    ),
    "sweep: a dashboard without a host": Case(
        "sweep",
        ["{box}/work/g.yaml", "--dashboard", "8787"],
        r"--dashboard must be HOST:PORT",
        _text("work/g.yaml", GOOD_GRID),
        exit_code=2,
    ),
    "sweep: more workers than cores": Case(
        "sweep",
        ["{box}/work/g.yaml", "--workers", "100000"],
        r"--workers must be an integer from 1 to \d+, got 100000",
        _text("work/g.yaml", GOOD_GRID),
        exit_code=2,
    ),
}

# --------------------------------------------------------------------------- models


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    """Tiny models, good and bad, saved once: each case copies the ones it names."""
    import keras
    import numpy as np
    from PIL import Image

    folder = tmp_path_factory.mktemp("models")

    def save(name: str, layers: list, shape=(28, 28, 1)) -> None:
        model = keras.Sequential([keras.Input(shape), *layers])
        model.save(folder / name)

    def head(classes: int = 10, activation: str | None = "softmax") -> list:
        return [keras.layers.Flatten(), keras.layers.Dense(classes, activation=activation)]

    save("good.keras", head())
    save("raw.keras", head(activation=None))  # raw scores, no softmax
    save("five.keras", head(5))
    save("other_shape.keras", head(), shape=(32, 32, 1))
    save("lambda.keras", [keras.layers.Lambda(lambda x: x * 2), *head()])
    good = (folder / "good.keras").read_bytes()
    (folder / "truncated.keras").write_bytes(good[: len(good) // 2])
    (folder / "not_a_model.keras").write_text("a shopping list\n")
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255
    Image.fromarray(digit).save(folder / "one.png")
    (folder / "not_an_image.png").write_text("no pixels here\n")
    return folder


def _with(*names: str, folder: str = "m") -> Callable[[Path], None]:
    """Copy the named files of the ``models`` fixture into the sandbox's ``folder``;
    ``"a.keras=b.keras"`` copies ``a.keras`` under the name ``b.keras``."""

    def make(box: Path) -> None:
        target = box / folder
        target.mkdir(parents=True, exist_ok=True)
        for name in names:
            source, _, as_name = name.partition("=")
            (target / (as_name or source)).write_bytes((MODELS / source).read_bytes())

    return make


def _tflite_beside(model: str) -> Callable[[Path], None]:
    """``model`` copied as ``m/model.keras`` with a ``model.tflite`` made from the good model
    beside it: an export that is not of this file (as when the .keras is replaced)."""

    def make(box: Path) -> None:
        _with(f"{model}=model.keras", "one.png")(box)
        (box / "m" / "model.tflite").write_bytes(b"TFL3" + bytes(2000))

    return make


#: the folder of the ``models`` fixture, set by the test before the first case runs
MODELS = Path()

MODEL_CASES = {
    "predict: no such model": Case(
        "predict",
        ["--model", "{box}/m/missing.keras", "{box}/m/one.png"],
        r"missing\.keras",
        _with("one.png"),
        exit_code=2,
    ),
    "predict: a truncated model, with a .tflite beside it": Case(
        "predict",
        ["--model", "{box}/m/model.keras", "{box}/m/one.png"],
        r"model\.keras",
        _tflite_beside("truncated.keras"),
        exit_code=2,
    ),
    "predict: a text file named .keras": Case(
        "predict",
        ["--model", "{box}/m/not_a_model.keras", "{box}/m/one.png"],
        r"not_a_model\.keras",
        _with("not_a_model.keras", "one.png"),
        exit_code=2,
    ),
    "predict: a model that gives raw scores": Case(
        "predict",
        ["--model", "{box}/m/raw.keras", "{box}/m/one.png"],
        r"probabilit",
        _with("raw.keras", "one.png"),
        exit_code=2,
    ),
    "predict: a model of five classes": Case(
        "predict",
        ["--model", "{box}/m/five.keras", "{box}/m/one.png"],
        r"\b5\b",
        _with("five.keras", "one.png"),
        exit_code=2,
    ),
    "predict: a model for 32x32 images": Case(
        "predict",
        ["--model", "{box}/m/other_shape.keras", "{box}/m/one.png"],
        r"32, 32",
        _with("other_shape.keras", "one.png"),
        exit_code=2,
    ),
    "predict: a model with a Lambda layer": Case(
        "predict",
        ["--model", "{box}/m/lambda.keras", "{box}/m/one.png"],
        r"Lambda",
        _with("lambda.keras", "one.png"),
        exit_code=2,
    ),
    "predict: a text file named .png": Case(
        "predict",
        ["--model", "{box}/m/good.keras", "{box}/m/not_an_image.png"],
        r"not_an_image\.png: not an image",
        _with("good.keras", "not_an_image.png"),
        exit_code=1,
    ),
    "predict: a legacy .h5 model": Case(
        "predict",
        ["--model", "{box}/m/model.h5", "{box}/m/one.png"],
        r"refused: only \.keras",
        _with("good.keras=model.h5", "one.png"),
        exit_code=2,
    ),
    "export: a truncated model": Case(
        "export",
        ["{box}/m/truncated.keras", "--format", "onnx"],
        r"truncated\.keras",
        _with("truncated.keras"),
    ),
    "export: a model with a Lambda layer": Case(
        "export",
        ["{box}/m/lambda.keras", "--format", "onnx"],
        r"Lambda",
        _with("lambda.keras"),
    ),
    "robustness: a model for 32x32 images": Case(
        "robustness",
        ["{box}/m/other_shape.keras"],
        r"32, 32",
        _with("other_shape.keras"),
        exit_code=2,
    ),
    "robustness: a model that gives raw scores": Case(
        "robustness",
        ["{box}/m/raw.keras"],
        r"probabilit",
        _with("raw.keras"),
        exit_code=2,
    ),
    "app: a truncated model": Case(
        "app",
        ["--model", "{box}/m/truncated.keras", "--no-browser"],
        r"truncated\.keras",
        _with("truncated.keras"),
        exit_code=2,
    ),
    "app: a model with a Lambda layer": Case(
        "app",
        ["--model", "{box}/m/lambda.keras", "--no-browser"],
        r"Lambda",
        _with("lambda.keras"),
        exit_code=2,
    ),
    "app: a folder named .keras": Case(
        "app",
        ["--model", "{box}/m/dir.keras", "--no-browser"],
        r"is a folder",
        _text("m/dir.keras/inside.txt", "not a model"),
        exit_code=2,
    ),
    "app: a port that cannot be": Case(
        "app",
        ["--port", "70000", "--no-browser"],
        r"--port must be between 1 and 65535",
        exit_code=2,
    ),
}


@pytest.mark.parametrize("case", _cases(MODEL_CASES))
def test_bad_models_get_a_message_and_write_nothing(case, tmp_path, models, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "MODELS", models)
    check_case(case, tmp_path)


@pytest.mark.parametrize("case", _cases(FILE_CASES, PARAMETER_CASES, GRID_CASES))
def test_bad_input_gets_a_message_and_writes_nothing(case, tmp_path):
    check_case(case, tmp_path)


def test_the_checks_fail_on_a_command_that_succeeds(tmp_path):
    """The harness itself can fail: ``--help`` exits 0, which a bad input must not."""
    with pytest.raises(AssertionError, match="exit 0"):
        check_case(Case("data", ["--help"], r"usage"), tmp_path)
    rc, stderr, rss = _run("data", ["--help"], tmp_path)
    assert rc == 0 and 10 * 1024**2 < rss < MAX_RSS  # a Python process, measured in bytes
