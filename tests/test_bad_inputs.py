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
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mnist_helpers.paths import project_root

#: The most resident memory one command may take, in bytes.
MAX_RSS = 2.5 * 1024**3
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


def _run(tool: str, args: list[str], box: Path, extra_env: dict | None = None):
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
        "TF_CPP_MIN_LOG_LEVEL": "3",
        **(extra_env or {}),
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
        )
        try:
            _, status, usage = os.wait4(process.pid, 0)  # this child's own peak memory
        except BaseException:
            process.kill()
            raise
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
        ["run", "--only", "03", "-p", "run_name", ".."],
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
        r"--workers must be between 1 and",
        _text("work/g.yaml", GOOD_GRID),
        exit_code=2,
    ),
}


def _cases(*groups: dict[str, Case]):
    return [pytest.param(case, id=name) for group in groups for name, case in group.items()]


@pytest.mark.parametrize("case", _cases(FILE_CASES, PARAMETER_CASES, GRID_CASES))
def test_bad_input_gets_a_message_and_writes_nothing(case, tmp_path):
    check_case(case, tmp_path)


def test_the_checks_fail_on_a_command_that_succeeds(tmp_path):
    """The harness itself can fail: ``--help`` exits 0, which a bad input must not."""
    with pytest.raises(AssertionError, match="exit 0"):
        check_case(Case("data", ["--help"], r"usage"), tmp_path)
    rc, stderr, rss = _run("data", ["--help"], tmp_path)
    assert rc == 0 and 10 * 1024**2 < rss < MAX_RSS  # a Python process, measured in bytes
