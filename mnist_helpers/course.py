"""Run the course's notebooks headlessly with papermill.

``python -m mnist_helpers.course run`` (``make run``) executes every notebook into
``runs/notebooks/`` with its figures in ``runs/figures/``, with the notebooks' own defaults:
the class-sized ones (07 and 08 run their quick ``smoke`` profile). ``notebooks`` (``make
notebooks``) re-executes the committed notebooks in place at the full profile
(:data:`COMMITTED_PARAMETERS`); their parameters cells keep the class-sized defaults.
``-p epochs 3`` or ``--params params.yaml`` set parameters (each goes to the notebooks that
declare it; a parameter whose default is text stays text); ``-p profile smoke`` also sends
04's run to ``runs/smoke/`` and has 05, 06 and 07 read it; ``--only 04 05`` picks notebooks.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

from mnist_helpers.console import forward_without_noise
from mnist_helpers.env import KERNEL_NAME
from mnist_helpers.files import atomic_path, check_plain_value, read_yaml
from mnist_helpers.paths import check_run_name, figures_dir, project_root, runs_dir

try:
    import nbformat
    import papermill
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import Dict, Unicode
    from traitlets.config import Config
except ImportError as err:
    raise ImportError(
        f"running notebooks headlessly needs Jupyter and papermill ({err}): "
        'pip install "mnist_helpers[course]" (make setup installs everything)'
    ) from err

#: The parameters of the committed outputs (``make notebooks``): the full profile, where a
#: notebook's own default is the quick one that fits a class. Their outputs say so.
COMMITTED_PARAMETERS: dict[str, dict] = {
    "08_going_further.ipynb": {"profile": "full"},
    "07_when_the_data_shifts.ipynb": {"profile": "full"},
}


def notebook_paths() -> list[Path]:
    """The course notebooks in teaching order (``notebooks/NN_*.ipynb``)."""
    return sorted((project_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def select_notebooks(paths: list[Path], prefixes: list[str]) -> list[Path]:
    """The notebooks of ``paths`` whose names start with one of ``prefixes`` (``--only``);
    ``ValueError`` for no prefix or one that matches no notebook, listing the notebooks."""
    names = ", ".join(path.name for path in paths)
    if not prefixes:
        raise ValueError(f"--only needs the notebooks to run, e.g. --only 04 05; there are {names}")
    unmatched = [o for o in prefixes if not any(path.name.startswith(o) for path in paths)]
    if unmatched:
        raise ValueError(f"--only {' '.join(unmatched)} matches no notebook; there are {names}")
    return [path for path in paths if any(path.name.startswith(o) for o in prefixes)]


def notebook_parameters(path: Path) -> dict[str, object]:
    """Return the names and default values of a notebook's ``parameters`` cell."""
    return {name: info["default"] for name, info in papermill.inspect_notebook(str(path)).items()}


def is_text_default(source: str) -> bool:
    """Whether a ``parameters`` cell's default (its source, ``'"full"'``) is a text value."""
    try:
        return isinstance(ast.literal_eval(source), str)
    except (ValueError, TypeError, SyntaxError):  # an expression, e.g. np.pi: not plain text
        return False


def text_parameters(paths: list[Path] | None = None) -> set[str]:
    """The parameters whose default is text in a notebook of ``paths`` (default: all)."""
    return {
        name
        for path in (notebook_paths() if paths is None else paths)
        for name, source in notebook_parameters(path).items()
        if is_text_default(str(source))
    }


def build_parameters(
    pairs: list[tuple[str, str]] | None = None,
    params_file: Path | None = None,
    paths: list[Path] | None = None,
) -> dict[str, object]:
    """The parameters for the notebooks ``paths`` (default: all) from ``-p NAME VALUE``
    ``pairs`` (which win) and a YAML ``params_file``, read by YAML's rules (:func:`parse_value`)
    except that a parameter whose default is text stays text (``run_name`` 2024 is ``"2024"``).

    Raises ``ValueError`` for a file that is no plain mapping of names to single values, a
    name no notebook takes, or a ``run_name`` that is no plain folder name.
    """
    paths = notebook_paths() if paths is None else paths
    textual = text_parameters(paths)
    parameters: dict[str, object] = {}
    if params_file is not None:
        loaded = read_yaml(params_file, "parameter file") or {}
        if not isinstance(loaded, dict):
            raise ValueError(
                f"parameter file {params_file} must hold a mapping of parameter: value, "
                "e.g. epochs: 3"
            )
        for name, value in loaded.items():
            if not isinstance(name, str):
                raise ValueError(
                    f"parameter file {params_file}: parameter names are text, got {name!r}"
                )
            check_plain_value(
                value, f"parameter file {params_file}: {name}", " (quotes make it text)"
            )
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            parameters[name] = str(value) if name in textual and is_number else value
    for name, text in pairs or []:
        parameters[name] = text if name in textual else parse_value(text)

    known = set().union(*(notebook_parameters(p) for p in paths))
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; the notebooks take {sorted(known)}")
    if "run_name" in parameters:  # checked before any notebook runs
        check_run_name(parameters["run_name"])
    return parameters


def parse_value(text: str) -> object:
    """A command-line value as YAML reads a single value: 3 -> 3, 3e-3 -> 0.003, null -> None,
    true -> True; anything else (``[1, 2]``, ``!!tag x`` too) stays text."""
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    loader = yaml.SafeLoader(text)
    try:  # the type YAML would give the text as a single value (null, true, a date...)
        tag = loader.resolve(yaml.ScalarNode, text, (True, False))
        return loader.construct_object(yaml.ScalarNode(tag, text))
    except ValueError:  # looks like a date but is none, e.g. 2024-13-45
        return text
    finally:
        loader.dispose()


class QuietKernelManager(AsyncKernelManager):
    """Starts a kernel with its standard error (start-up chatter, not the notebook's output)
    going to the file ``stderr_path``, and ``extra_env`` added to its environment."""

    stderr_path = Unicode("", help="file the kernel's standard error goes to").tag(config=True)
    extra_env = Dict(help="variables added to the kernel's environment").tag(config=True)

    async def start_kernel(self, **kw) -> None:
        if self.extra_env:  # this kernel only: the calling process's environment is untouched
            kw["env"] = {**kw.get("env", os.environ), **self.extra_env}
        with open(self.stderr_path, "ab") as log:  # the kernel gets its own copy of the handle
            return await super().start_kernel(stderr=log, **kw)


def execute_notebook(
    path: Path,
    output: Path,
    parameters: dict | None = None,
    figures: Path | None = None,
    leave_out: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Path:
    """Execute one notebook with papermill on the course kernel; return ``output``.

    Only the ``parameters`` the notebook declares are passed. ``figures``: the folder its
    pictures go to; ``env``: more variables for this kernel only; ``leave_out``: cell tags
    whose cells are neither run nor kept. The kernel's standard error is passed on without its
    start-up chatter. Raises ``papermill.PapermillExecutionError`` if a cell fails.
    """
    source: str | nbformat.NotebookNode = str(path)
    if leave_out:
        source = nbformat.read(path, as_version=4)
        source.cells = [
            c for c in source.cells if not set(leave_out) & set(c.metadata.get("tags", []))
        ]
    declared = notebook_parameters(path)
    mine = {k: v for k, v in (parameters or {}).items() if k in declared}
    output.parent.mkdir(parents=True, exist_ok=True)
    kernel_env = dict(env or {})
    if figures is not None:
        kernel_env["MNIST_FIGURES_DIR"] = str(figures)
    kernel_log = tempfile.NamedTemporaryFile(prefix="kernel-", suffix=".log", delete=False)
    kernel_log.close()
    try:
        papermill.execute_notebook(
            source,
            str(output),
            parameters=mine,
            kernel_name=KERNEL_NAME,
            cwd=str(path.parent),
            progress_bar=False,
            kernel_manager_class=QuietKernelManager,
            config=Config(
                {"QuietKernelManager": {"stderr_path": kernel_log.name, "extra_env": kernel_env}}
            ),
        )
    finally:
        forward_without_noise(Path(kernel_log.name).read_text(errors="replace"))
        Path(kernel_log.name).unlink(missing_ok=True)
    _drop_local_paths(output)
    return output


def _drop_local_paths(path: Path) -> None:
    """Remove papermill's record of the input and output paths (they name your home folder);
    its ``duration`` stays (the guide's tables are made from it)."""
    nb = nbformat.read(path, as_version=4)
    record = nb.metadata.get("papermill", {})
    if [record.pop(key) for key in ("input_path", "output_path") if key in record]:
        with atomic_path(path) as tmp:
            nbformat.write(nb, tmp)


def _drop_injected_parameters(path: Path) -> None:
    """Remove the cell papermill added after the ``parameters`` cell (a committed notebook's
    Run All must use its own, class-sized defaults); the record of the parameters stays in
    the notebook's metadata, where the guide's table reads it."""
    nb = nbformat.read(path, as_version=4)
    kept = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    if len(kept) != len(nb.cells):
        nb.cells = kept
        with atomic_path(path) as tmp:
            nbformat.write(nb, tmp)


def execute_notebooks(
    paths: list[Path], parameters: dict | None = None, in_place: bool = False
) -> list[Path]:
    """Execute ``paths`` in order, in place or into ``runs/notebooks/``; return the outputs.

    In place, a notebook is replaced only once it has run to the end (a failure or Ctrl-C
    leaves it untouched). Prints each notebook's name and seconds; stops at the first failure.
    """
    done = []
    for path in paths:
        start = time.perf_counter()
        print(f"running {path.name} ...", flush=True)
        if in_place:
            with atomic_path(path) as tmp:
                mine = {**COMMITTED_PARAMETERS.get(path.name, {}), **(parameters or {})}
                execute_notebook(path, tmp, mine)
                _drop_injected_parameters(tmp)
            done.append(path)
        else:
            output = runs_dir() / "notebooks" / path.name
            done.append(execute_notebook(path, output, parameters))
        print(f"  {time.perf_counter() - start:.0f} s -> {done[-1]}", flush=True)
    return done


def run_result_line(run_name: str, since: float | None = None) -> str:
    """One line on the run ``run_name``: its test accuracy and training time (if it finished
    after ``since``, a ``time.time()``), and where the figures are."""
    metrics_path = runs_dir() / run_name / "metrics.json"
    figures = f"figures in {figures_dir()}"
    if not metrics_path.is_file():
        return f"no finished run {run_name!r} in {runs_dir()}; {figures}"
    if since is not None and metrics_path.stat().st_mtime < since:
        return f"run {run_name!r} was not trained by this run; {figures}"
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        return (
            f"run {run_name!r}: test accuracy {metrics['test_accuracy']:.2%}, "
            f"trained in {metrics['train_seconds']:.0f} s ({metrics['epochs_run']} epochs); "
            f"{figures}"
        )
    except (ValueError, KeyError, TypeError) as err:
        return f"run {run_name!r}: {metrics_path} cannot be read ({err!r}); {figures}"


def main(argv: list[str] | None = None) -> int:
    """Command line: `run` the course into runs/notebooks, or `notebooks`: re-run in place."""
    parser = argparse.ArgumentParser(prog="python -m mnist_helpers.course", description=__doc__)
    parser.add_argument("command", choices=["run", "notebooks"])
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a notebook parameter, e.g. -p epochs 3",
    )
    parser.add_argument("--params", type=Path, help="a YAML file of parameters")
    parser.add_argument("--only", nargs="*", help="notebook name prefixes to run, e.g. 04 05")
    args = parser.parse_args(argv)

    all_paths = notebook_paths()
    try:
        paths = all_paths if args.only is None else select_notebooks(all_paths, args.only)
        parameters = build_parameters(args.parameter, args.params)
    except (OSError, ValueError) as err:
        parser.error(str(err))
    if args.command == "notebooks" and parameters:
        parser.error("`notebooks` re-creates the committed outputs: it takes no parameters")
    if args.command == "run":  # a run with your parameters must not overwrite figures/
        os.environ.setdefault("MNIST_FIGURES_DIR", str(runs_dir() / "figures"))
    profile = parameters.get("profile", "full")
    if isinstance(profile, str) and profile != "full" and "run_name" not in parameters:
        parameters["run_name"] = profile  # 04 trains runs/smoke; 05, 06 and 07 read it
    start, started = time.perf_counter(), time.time()
    try:
        execute_notebooks(paths, parameters, in_place=args.command == "notebooks")
    except papermill.PapermillExecutionError as err:
        print(f"FAILED: {err.ename}: {err.evalue}", file=sys.stderr)
        return 1
    except OSError as err:  # a folder that cannot be made or written
        where = f"{err.filename}: " if err.filename else ""
        hint = ""
        if args.command == "run":
            hint = " (MNIST_RUNS_DIR and MNIST_FIGURES_DIR choose the folders a run writes to)"
        print(f"FAILED: {where}{err.strerror or err}{hint}", file=sys.stderr)
        return 1
    ran = "all notebooks" if paths == all_paths else f"{len(paths)} notebook"
    if paths != all_paths:
        ran += f"{'s' if len(paths) > 1 else ''} ({', '.join(p.name for p in paths)})"
    line = run_result_line(parameters.get("run_name", "default"), since=started)
    print(f"{ran} ran in {time.perf_counter() - start:.0f} s; {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
