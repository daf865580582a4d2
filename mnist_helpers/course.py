"""Run the course's notebooks headlessly with papermill, and report their run times.

``python -m mnist_helpers.course run`` (what ``make run`` calls) executes every notebook in
order into ``runs/notebooks/`` (executed copies, never committed), passing your parameters to
the notebooks that declare them, with the figures going to ``runs/figures/``, and ends with a
one-line summary. ``python -m mnist_helpers.course notebooks`` (``make notebooks``)
re-executes the committed notebooks with their default parameters, so their outputs and
``figures/`` match a full default run: each runs into a temporary copy beside it, which
replaces the committed notebook only once that notebook has finished (a failed or interrupted
run leaves it as it was). ``python -m mnist_helpers.course runtimes`` prints
how long each notebook's last headless run took (``--update docs/teaching.md`` writes it into
the teaching guide; ``--from runs/notebooks`` reads your own ``make run``).

Parameters: ``-p epochs 3 -p seed 7`` or ``--params params.yaml`` (a YAML mapping of names to
single values); each goes to every notebook whose ``parameters`` cell defines it. A parameter
whose default is text (``run_name="default"``) stays text: ``-p run_name 2024`` gives the run
``"2024"``. ``--only 03 04`` runs the notebooks whose names start so.
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

from jupyter_client.manager import AsyncKernelManager
from traitlets import Dict, Unicode
from traitlets.config import Config

from mnist_helpers.console import forward_without_noise
from mnist_helpers.env import KERNEL_NAME
from mnist_helpers.files import atomic_path, check_plain_value, read_yaml, write_text_atomic
from mnist_helpers.paths import check_run_name, figures_dir, project_root, runs_dir

#: Parameters ``run`` gives a notebook unless you set them: 05's full profile takes about
#: an hour and 07's about twenty minutes, so ``make run`` uses their smoke profiles (``make run
#: PROFILE=full`` for all of them).
RUN_DEFAULTS: dict[str, dict] = {
    "05_going_further.ipynb": {"profile": "smoke"},
    "07_when_the_data_shifts.ipynb": {"profile": "smoke"},
}


def notebook_paths() -> list[Path]:
    """The course notebooks in teaching order (``notebooks/NN_*.ipynb``)."""
    return sorted((project_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def select_notebooks(paths: list[Path], prefixes: list[str]) -> list[Path]:
    """The notebooks of ``paths`` whose names start with one of ``prefixes`` (``--only 03 04``).

    Raises:
        ValueError: no prefix, or a prefix that matches no notebook; the message lists them.
    """
    names = ", ".join(path.name for path in paths)
    if not prefixes:
        raise ValueError(f"--only needs the notebooks to run, e.g. --only 03 04; there are {names}")
    unmatched = [o for o in prefixes if not any(path.name.startswith(o) for path in paths)]
    if unmatched:
        raise ValueError(f"--only {' '.join(unmatched)} matches no notebook; there are {names}")
    return [path for path in paths if any(path.name.startswith(o) for o in prefixes)]


def notebook_parameters(path: Path) -> dict[str, object]:
    """Return the names and default values of a notebook's ``parameters`` cell."""
    import papermill

    return {name: info["default"] for name, info in papermill.inspect_notebook(str(path)).items()}


def is_text_default(source: str) -> bool:
    """Whether a ``parameters`` cell's default (its source, ``'"full"'``) is a text value."""
    try:
        return isinstance(ast.literal_eval(source), str)
    except (ValueError, TypeError, SyntaxError):  # an expression, e.g. np.pi: not plain text
        return False


def text_parameters(paths: list[Path] | None = None) -> set[str]:
    """The parameters whose default is text in a notebook of ``paths`` (default: all).

    A value given for one of them stays text (``run_name`` 2024 is ``"2024"``).
    """
    names = set()
    for path in notebook_paths() if paths is None else paths:
        for name, source in notebook_parameters(path).items():
            if is_text_default(str(source)):
                names.add(name)
    return names


def build_parameters(
    pairs: list[tuple[str, str]] | None = None,
    params_file: Path | None = None,
    paths: list[Path] | None = None,
) -> dict[str, object]:
    """The parameters for the notebooks from ``-p NAME VALUE`` ``pairs`` and a YAML file.

    ``pairs`` win over ``params_file``. A value is turned into a Python value by YAML's
    rules (``parse_value``: 3 -> 3, 3e-3 -> 0.003, null -> None), except for a parameter
    whose default in the notebooks is text: it stays text (``-p run_name 2024`` gives
    ``"2024"``, not the number 2024, which 03 would refuse; a number written in the YAML
    file becomes text the same way). ``paths``: the notebooks (default: all of the course).

    Raises:
        ValueError: ``params_file`` cannot be read as plain YAML (the message gives the file
            and the line, see :func:`mnist_helpers.files.read_yaml`), does not hold a mapping
            of names to single values, or a name is no parameter of any notebook (the
            message lists the names the notebooks take), or ``run_name`` is no plain folder
            name (:func:`mnist_helpers.paths.check_run_name`).
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
    if "run_name" in parameters:  # checked before any notebook runs (03 checks it again)
        check_run_name(parameters["run_name"])
    return parameters


def parse_value(text: str) -> object:
    """Turn a command-line value into a Python value: 3 -> int, 3e-3 -> float, null -> None,
    true -> bool, anything else -> text (YAML's rules for a single value: ``[1, 2]`` and
    ``!!tag x`` stay text, since a parameter is one plain value)."""
    import yaml

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
    """Starts a notebook's kernel with its standard error going to the file ``stderr_path``.

    What a kernel prints there is not the notebook's output (that travels in messages to
    papermill): it is TensorFlow's and Jupyter's start-up chatter, and, rarely, a real
    problem. :func:`execute_notebook` reads the file when the notebook has run and passes on
    every line that is not chatter (:mod:`mnist_helpers.console`).
    """

    stderr_path = Unicode("", help="file the kernel's standard error goes to").tag(config=True)
    extra_env = Dict(help="variables added to the kernel's environment").tag(config=True)

    async def start_kernel(self, **kw) -> None:
        if self.extra_env:  # this kernel only: the calling process's environment is untouched
            kw["env"] = {**kw.get("env", os.environ), **self.extra_env}
        if not self.stderr_path:
            return await super().start_kernel(**kw)
        with open(self.stderr_path, "ab") as log:  # the kernel gets its own copy of the handle
            return await super().start_kernel(stderr=log, **kw)


def execute_notebook(
    path: Path,
    output: Path,
    parameters: dict | None = None,
    log_output: bool = False,
    figures: Path | None = None,
    leave_out: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Path:
    """Execute one notebook with papermill on the course kernel; return the output path.

    Only the parameters the notebook declares are passed. ``figures``: the folder its
    pictures go to (``MNIST_FIGURES_DIR`` for this run only); by default the current one.
    ``env``: more environment variables for this run's kernel only (a sweep's worker gives
    each run its own ``MNIST_RUNS_DIR`` this way); this process's environment is untouched.
    ``leave_out``: cell tags; the cells carrying any of them are not run, and are not in the
    output (a sweep leaves out 03's teaching experiments this way, see
    :data:`mnist_helpers.sweep.LEFT_OUT`). Raises papermill's ``PapermillExecutionError``
    (with the failing cell's error) if a cell fails.
    """
    import nbformat
    import papermill

    source: str | nbformat.NotebookNode = str(path)
    if leave_out:
        source = nbformat.read(path, as_version=4)
        source.cells = [
            cell for cell in source.cells if not set(leave_out) & set(cell.metadata.get("tags", []))
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
            log_output=log_output,
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
    """Remove papermill's record of absolute input/output paths (they name your home folder).

    The notebook's run time (``metadata.papermill.duration``) stays: docs/teaching.md is built
    from it.
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    record = nb.metadata.get("papermill", {})
    if not {"input_path", "output_path"} & set(record):
        return
    record.pop("input_path", None)
    record.pop("output_path", None)
    with atomic_path(path) as tmp:
        nbformat.write(nb, tmp)


def execute_notebooks(
    paths: list[Path], parameters: dict | None = None, in_place: bool = False
) -> list[Path]:
    """Execute ``paths`` in order, in place or into ``runs/notebooks/``; return the outputs.

    In place, each notebook runs into a temporary copy beside it (so its relative paths
    still work) that replaces it only when the notebook has finished: a failure or Ctrl-C
    leaves the committed notebook untouched and no temporary file behind. Prints each
    notebook's name and seconds. Stops at the first failing notebook (raising its error).
    """
    done = []
    for path in paths:
        start = time.perf_counter()
        target = path if in_place else runs_dir() / "notebooks" / path.name
        mine = dict(parameters or {})
        if not in_place:
            mine = {**RUN_DEFAULTS.get(path.name, {}), **mine}
        print(f"running {path.name} ...", flush=True)
        if in_place:
            with atomic_path(path) as tmp:
                execute_notebook(path, tmp, mine)
            done.append(path)
        else:
            done.append(execute_notebook(path, target, mine))
        print(f"  {time.perf_counter() - start:.0f} s -> {target}", flush=True)
    return done


def summary_line(run_name: str, since: float | None = None) -> str:
    """One line: test accuracy and training time of ``run_name``, and where the figures are.

    ``since``: a ``time.time()``; a run finished before it is not quoted (it is an older one).
    """
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


GUIDE_START, GUIDE_END = "<!-- runtimes:start -->", "<!-- runtimes:end -->"


def _minutes(seconds: float) -> str:
    """123.4 -> '2 min 3 s'; 9.2 -> '9 s'."""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def _devices(nb) -> str:
    """The devices that ``check_env()`` printed in the notebook's setup cell.

    Read from its one-line summary (``environment OK: ...; devices: 2 CPU cores, no GPU``) or
    from the ``devices`` row of its full table.
    """
    for cell in nb.cells[:3]:
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines():
                if line.startswith("environment OK:") and "; devices: " in line:
                    return line.split("; devices: ", 1)[1].strip()
                if line.startswith("devices"):
                    return line.removeprefix("devices").strip()
    return "unknown machine"


def runtime_table(folder: Path | None = None) -> list[dict]:
    """One row per notebook of ``folder`` (default: the committed ``notebooks/``).

    Each row: ``notebook``, ``title``, ``objectives`` and the planned ``teaching`` and
    ``exercises`` minutes (the notebook's ``course`` metadata), and the measured ``seconds`` of
    its last headless run with the ``parameters`` it got and the ``machine`` it ran on (both
    recorded by papermill and ``check_env()``). Raises ``ValueError`` for a notebook that was
    never run headlessly.
    """
    import nbformat

    paths = sorted(Path(folder).glob("[0-9][0-9]_*.ipynb")) if folder else notebook_paths()
    if not paths:
        raise ValueError(
            f"no executed notebooks (NN_*.ipynb) in {folder or project_root() / 'notebooks'} "
            "(make run writes them to runs/notebooks)"
        )
    rows = []
    for path in paths:
        try:
            nb = nbformat.read(path, as_version=4)
        except (OSError, ValueError) as err:  # not JSON, not UTF-8, not a notebook
            raise ValueError(f"{path} cannot be read as a notebook: {err}") from None
        record = nb.metadata.get("papermill", {})
        if record.get("duration") is None:
            raise ValueError(
                f"{path} has no recorded run time: run it headlessly first "
                "(make notebooks, or make run for runs/notebooks/)"
            )
        plan = nb.metadata.get("course", {})
        minutes = plan.get("minutes", {})
        parameters = record.get("parameters") or {}
        rows.append(
            {
                "notebook": path.name,
                "title": nb.cells[0].source.splitlines()[0].lstrip("# ").strip(),
                "objectives": plan.get("objectives", []),
                "teaching": minutes.get("teaching"),
                "exercises": minutes.get("exercises"),
                "seconds": float(record["duration"]),
                "parameters": ", ".join(f"{k}={v!r}" for k, v in parameters.items()) or "defaults",
                "machine": _devices(nb),
            }
        )
    return rows


def runtime_markdown(rows: list[dict]) -> str:
    """The guide's generated part: the runtime table, then what each notebook teaches."""
    machines = sorted({row["machine"] for row in rows})
    lines = [
        f"Measured by `python -m mnist_helpers.course runtimes` on {' / '.join(machines)}: "
        "each notebook's headless run (papermill) with the parameters shown.",
        "",
        "| notebook | teaching | exercises | headless run | parameters |",
        "|---|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| [{row['title']}](../notebooks/{row['notebook']}) | {row['teaching']} min "
            f"| {row['exercises']} min | {_minutes(row['seconds'])} | {row['parameters']} |"
        )
    teaching = sum(row["teaching"] or 0 for row in rows)
    exercises = sum(row["exercises"] or 0 for row in rows)
    total = _minutes(sum(row["seconds"] for row in rows))
    lines += [f"| **all** | {teaching} min | {exercises} min | {total} | |", ""]
    for row in rows:
        lines.append(f"**{row['title']}**: students learn to")
        lines += [f"- {objective}" for objective in row["objectives"]]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


TIME_PREFIX = "**Time:**"


def time_line(row: dict) -> str:
    """A notebook's time line, generated from the same row as the guide's table.

    Class time from the notebook's plan (``course.minutes`` metadata), computer time from its
    last headless run, so the notebook, docs/teaching.md and the metadata never disagree.
    """
    teaching, exercises = row["teaching"] or 0, row["exercises"] or 0
    return (
        f"{TIME_PREFIX} about {teaching + exercises} minutes in class ({teaching} teaching, "
        f"{exercises} exercises); running every cell took the computer "
        f"{_minutes(row['seconds'])} ({row['machine']}; all notebooks: docs/teaching.md)."
    )


def update_time_lines(rows: list[dict], folder: Path | None = None) -> list[Path]:
    """Write each row's :func:`time_line` into its notebook's first cell; return those changed.

    The first cell must hold a line that starts with ``**Time:**``: it is replaced whole.
    Only the markdown changes; outputs and metadata stay as they are.
    """
    import nbformat

    folder = Path(folder) if folder else project_root() / "notebooks"
    changed = []
    for row in rows:
        path = folder / row["notebook"]
        nb = nbformat.read(path, as_version=4)
        lines = nb.cells[0].source.split("\n")
        where = [i for i, line in enumerate(lines) if line.startswith(TIME_PREFIX)]
        if len(where) != 1:
            raise ValueError(f"{path}: its first cell needs one line starting with {TIME_PREFIX}")
        line = time_line(row)
        if lines[where[0]] == line:
            continue
        lines[where[0]] = line
        nb.cells[0].source = "\n".join(lines)
        write_text_atomic(path, nbformat.writes(nb) + "\n")
        changed.append(path)
    return changed


def update_guide(guide: Path, markdown: str) -> bool:
    """Replace the part of ``guide`` between the runtimes markers; return whether it changed.

    Raises:
        ValueError: ``guide`` cannot be read as UTF-8 text, or lacks the markers.
    """
    try:
        text = guide.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = "it is not UTF-8 text" if isinstance(err, UnicodeDecodeError) else err.strerror
        raise ValueError(f"cannot update {guide}: {reason}") from None
    if GUIDE_START not in text or GUIDE_END not in text:
        raise ValueError(f"{guide} lacks the markers {GUIDE_START} and {GUIDE_END}")
    head, rest = text.split(GUIDE_START, 1)
    tail = rest.split(GUIDE_END, 1)[1]
    new = f"{head}{GUIDE_START}\n{markdown}{GUIDE_END}{tail}"
    if new == text:
        return False
    write_text_atomic(guide, new)
    return True


def main(argv: list[str] | None = None) -> int:
    """Command line: `run` the course into runs/notebooks, or `notebooks`: re-run in place."""
    parser = argparse.ArgumentParser(
        prog="python -m mnist_helpers.course",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["run", "notebooks", "runtimes"])
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
    parser.add_argument("--only", nargs="*", help="notebook name prefixes to run, e.g. 03 04")
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        help="runtimes: read the executed notebooks in this folder (default: notebooks/)",
    )
    parser.add_argument(
        "--update", type=Path, help="runtimes: write the table into this guide (docs/teaching.md)"
    )
    args = parser.parse_args(argv)

    if args.command == "runtimes":
        try:
            markdown = runtime_markdown(runtime_table(args.source))
            if not args.update:
                print(markdown)
                return 0
            changed = update_guide(args.update, markdown)
            print(f"{args.update}: {'updated' if changed else 'already up to date'}")
            if args.source is None:  # the committed notebooks: their time lines too
                for path in update_time_lines(runtime_table()):
                    print(f"{path.name}: time line updated")
        except (OSError, ValueError) as err:
            print(err, file=sys.stderr)
            return 1
        return 0

    all_paths = notebook_paths()
    try:
        paths = all_paths if args.only is None else select_notebooks(all_paths, args.only)
        parameters = build_parameters(args.parameter, args.params)
    except (OSError, ValueError) as err:
        parser.error(str(err))
    import papermill

    if args.command == "notebooks" and parameters:
        parser.error("`notebooks` re-creates the committed outputs: it takes no parameters")
    if args.command == "run":
        # a run with your parameters must not overwrite the committed figures
        os.environ.setdefault("MNIST_FIGURES_DIR", str(runs_dir() / "figures"))
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
    run_name = parameters.get("run_name", "default")
    print(
        f"{ran} ran in {time.perf_counter() - start:.0f} s; {summary_line(run_name, since=started)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
