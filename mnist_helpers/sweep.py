"""Parameter sweeps: run ``03_training.ipynb`` once per combination of a grid.

A grid is a small YAML file (``sweeps/example_grid.yaml`` ships with the course)::

    name: example            # the sweep's name: runs are called example_<settings>_<hash>
    fixed:                   # parameters every run gets
      profile: smoke
    grid:                    # every combination of these values is run
      architecture: [mlp, cnn]
      n_train: [2000, 6000]

Every key of ``fixed`` and ``grid`` must be a parameter of the notebook's ``parameters`` cell
(a misspelt one is refused before anything runs).

From a terminal: ``python -m mnist_helpers.sweep sweeps/example_grid.yaml``; from a notebook:
``run_sweep("sweeps/example_grid.yaml")``. Each combination is executed with papermill into
its own ``runs/<run name>/`` (the executed notebook is kept there as ``03_training.ipynb``,
without the teaching experiments that train extra models: :data:`LEFT_OUT`),
named after its grid settings and a short hash of *all* its parameters, e.g.
``example_architecture-cnn_n_train-2000_3f9a1c``: change a ``fixed`` value and the runs get
new names.
A finished run also keeps the parameters it ran with in ``sweep_params.json``; re-running the
sweep skips a combination only when its ``metrics.json`` exists and those parameters are the
same. A failing combination (a cell's error, a dead kernel, anything) is reported and the
others still run. The results table, ``runs/sweeps/<name>.csv``, is written after every
combination, so a sweep you interrupt keeps what finished; a plot goes beside it at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import re
import sys
from pathlib import Path

import pandas as pd

from mnist_helpers.files import atomic_path, write_text_atomic
from mnist_helpers.paths import project_root, runs_dir

NOTEBOOK = "03_training.ipynb"
#: The columns of ``metrics.json`` that the results table keeps.
METRICS = (
    "val_accuracy",
    "test_accuracy",
    "test_loss",
    "train_seconds",
    "parameters",
    "epochs_run",
)
#: Cells of 03 tagged with these are left out of a sweep's runs: the teaching experiments
#: that train extra models (the ablation and overfitting runs of its sections 9 and 10,
#: exercise 03.4). A sweep needs the run, not the lesson; nbval skips the same cells.
LEFT_OUT = ("nbval-skip",)
#: The file, in a finished run's folder, that records the parameters the run was made with.
PARAMS_FILE = "sweep_params.json"
#: Hex digits of the parameters' hash at the end of a run name.
HASH_LENGTH = 6
#: At most this many characters of a run name come from the settings (the hash keeps it unique).
READABLE_LENGTH = 80


def load_grid(path: str | Path) -> dict:
    """Read and check a grid file; return ``{"name", "fixed", "grid"}``.

    Raises:
        ValueError: the file is not a mapping, has unknown keys, a grid entry is not a
            non-empty list or lists a value twice, or a parameter is both fixed and in the
            grid; the message says what to write instead. (Whether each key is a parameter
            of the notebook is checked by ``check_parameters``.)
    """
    import yaml

    path = Path(path)
    spec = yaml.safe_load(path.read_text()) or {}
    if not isinstance(spec, dict):
        raise ValueError(f"{path}: a grid file holds a mapping with name, fixed and grid")
    unknown = set(spec) - {"name", "fixed", "grid"}
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}; allowed: name, fixed, grid")
    name = str(spec.get("name") or path.stem)
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise ValueError(f"{path}: name must be letters, digits, '.', '_' or '-', got {name!r}")
    fixed = spec.get("fixed") or {}
    grid = spec.get("grid") or {}
    if not isinstance(fixed, dict) or not isinstance(grid, dict) or not grid:
        raise ValueError(f"{path}: 'fixed' must be a mapping and 'grid' a non-empty mapping")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ValueError(
                f"{path}: grid entry {key!r} must be a non-empty list, e.g. {key}: [1, 2]"
            )
        seen = set()
        for value in values:
            if _canonical(value) in seen:
                raise ValueError(
                    f"{path}: grid entry {key!r} lists {value!r} twice; list each value once"
                )
            seen.add(_canonical(value))
    if "run_name" in fixed or "run_name" in grid:
        raise ValueError(f"{path}: run_name is set by the sweep itself; remove it")
    both = sorted(set(fixed) & set(grid))
    if both:
        raise ValueError(
            f"{path}: {both} set in both 'fixed' and 'grid'; keep each parameter in one of them"
        )
    return {"name": name, "fixed": fixed, "grid": grid}


def check_parameters(spec: dict, notebook: str | Path, source: str | Path = "grid") -> None:
    """Refuse a grid whose ``fixed`` or ``grid`` names something the notebook does not take.

    ``spec`` is what ``load_grid`` returns; ``notebook`` the notebook the sweep runs;
    ``source`` the grid file, named in the message. Without
    this check a misspelt key (``learnig_rate``) would be dropped silently, and every run
    would be the same.

    Raises:
        ValueError: naming the unknown keys and listing the parameters the notebook takes.
    """
    from mnist_helpers.course import notebook_parameters

    notebook = Path(notebook)
    allowed = set(notebook_parameters(notebook)) - {"run_name"}
    unknown = [key for key in (*spec["fixed"], *spec["grid"]) if key not in allowed]
    if unknown:
        raise ValueError(
            f"{source}: {unknown} not parameter(s) of {notebook.name}; "
            f"fix or remove them (allowed: {', '.join(sorted(allowed))})"
        )


def combinations(grid: dict) -> list[dict]:
    """Every combination of the grid's values, in order (the last key varies fastest)."""
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def _canonical(value: object) -> str:
    """One text per value: the same for equal parameters, different for different ones.

    JSON keeps ``1``, ``1.0``, ``True`` and ``"1"`` apart (they reach the notebook as different
    values); keys are sorted, so the order of a grid file does not matter.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def run_name_for(sweep: str, settings: dict, fixed: dict | None = None) -> str:
    """A readable, valid run name that is unique to the run's parameters.

    The readable part is the sweep's name and the grid ``settings``; then comes a short hash
    of every parameter, ``fixed`` ones included, so two runs share a name only if they share
    every parameter: ``run_name_for("example", {"architecture": "cnn", "n_train": 2000},
    {"profile": "smoke"})`` is ``example_model-cnn_n_train-2000_`` followed by 6 hex digits.
    Only letters, digits, ``.``, ``_`` and ``-`` are kept (what 03's ``run_name`` accepts).
    """
    parameters = {**(fixed or {}), **settings}
    digest = hashlib.sha256(_canonical(parameters).encode()).hexdigest()[:HASH_LENGTH]
    parts = [f"{key}-{value}" for key, value in settings.items()]
    readable = re.sub(r"[^A-Za-z0-9._-]", "", "_".join([sweep, *parts]))[:READABLE_LENGTH]
    return f"{readable}_{digest}"


def _ran_with(run: Path, parameters: dict) -> bool:
    """Whether ``run`` finished with exactly ``parameters`` (its ``sweep_params.json``)."""
    try:
        recorded = json.loads((run / PARAMS_FILE).read_text())
    except (OSError, ValueError):
        return False
    return _canonical(recorded) == _canonical(parameters)


def _error_text(err: BaseException) -> str:
    """``ename: evalue`` of a failing cell, else the exception's type and message."""
    import papermill

    if isinstance(err, papermill.PapermillExecutionError):
        return f"{err.ename}: {err.evalue}"
    message = str(err)
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


def _run_one(notebook: Path, run: Path, parameters: dict, tag: str) -> dict:
    """Run (or skip) one combination; return its ``status``, ``error`` and metrics."""
    from mnist_helpers.course import execute_notebook

    result: dict = {"status": "done", "error": "", **dict.fromkeys(METRICS)}
    metrics_file = run / "metrics.json"
    try:
        if metrics_file.is_file() and _ran_with(run, parameters):
            result["status"] = "skipped"
            print(f"{tag}: already done, skipped", flush=True)
        else:
            print(f"{tag}: running ...", flush=True)
            # a failed run must not leave an old record that would make its old metrics count
            (run / PARAMS_FILE).unlink(missing_ok=True)
            # each run keeps its own figures; the committed figures/ stay untouched
            execute_notebook(
                notebook,
                run / notebook.name,
                {**parameters, "run_name": run.name},
                figures=run / "figures",
                leave_out=LEFT_OUT,
            )
            if not metrics_file.is_file():
                raise RuntimeError(f"{notebook.name} finished but wrote no {metrics_file}")
        metrics = json.loads(metrics_file.read_text())
        if result["status"] == "done":
            write_text_atomic(run / PARAMS_FILE, json.dumps(parameters, indent=2, default=str))
    except Exception as err:  # any failure (a cell, a dead kernel) stops this combination only
        result.update(status="failed", error=_error_text(err))
        print(f"{tag}: FAILED: {result['error']}", flush=True)
        return result
    result.update({key: metrics.get(key) for key in METRICS})
    return result


def run_sweep(grid_file: str | Path, notebook: str | Path | None = None) -> pd.DataFrame:
    """Run every combination of ``grid_file`` not already done; return the results table.

    The table has one row per combination: ``run_name``, its settings, ``status`` (``done``,
    ``skipped`` when an earlier sweep finished it with the same parameters, or ``failed``),
    ``error`` (what went wrong, for a failed one) and the metrics of ``metrics.json``
    (``val_accuracy``, the one to choose by; ``test_accuracy``, ``test_loss``,
    ``train_seconds``, ``parameters``, ``epochs_run``). It is written to
    ``runs/sweeps/<name>.csv`` after every combination, and plotted to ``<name>.png`` at the
    end.

    Raises:
        ValueError: the grid file is wrong (see ``load_grid``) or names a parameter the
            notebook does not take; nothing has run then.

    Taught in 05.
    """
    spec = load_grid(grid_file)
    notebook = Path(notebook or project_root() / "notebooks" / NOTEBOOK)
    check_parameters(spec, notebook, grid_file)
    rows = []
    todo = combinations(spec["grid"])
    for i, settings in enumerate(todo, start=1):
        name = run_name_for(spec["name"], settings, spec["fixed"])
        parameters = {**spec["fixed"], **settings}
        result = _run_one(notebook, runs_dir() / name, parameters, f"[{i}/{len(todo)}] {name}")
        rows.append({"run_name": name, **settings, **result})
        # after every combination: an interrupted sweep keeps the rows that finished
        save_results(pd.DataFrame(rows), spec["name"], list(spec["grid"]), plot=False)
    table = pd.DataFrame(rows)
    save_results(table, spec["name"], list(spec["grid"]))
    return table


def save_results(table: pd.DataFrame, name: str, keys: list[str], plot: bool = True) -> Path:
    """Write ``table`` to ``runs/sweeps/<name>.csv`` (and, if ``plot``, its plot to
    ``<name>.png``); return the CSV's path."""
    folder = runs_dir() / "sweeps"
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"{name}.csv"
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False)
    if plot and "test_accuracy" in table and table["test_accuracy"].notna().any():
        import matplotlib.pyplot as plt

        from mnist_helpers.plots import plot_sweep

        fig = plot_sweep(table, keys, title=f"Sweep '{name}'")
        with atomic_path(folder / f"{name}.png") as tmp:
            fig.savefig(tmp, bbox_inches="tight")
        plt.close(fig)  # a long session of sweeps must not pile up open figures
    return csv


def main(argv: list[str] | None = None) -> int:
    """``python -m mnist_helpers.sweep GRID.yaml``; exits 1 if any combination failed."""
    parser = argparse.ArgumentParser(
        prog="python -m mnist_helpers.sweep", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("grid", type=Path, help="a grid YAML file, e.g. sweeps/example_grid.yaml")
    args = parser.parse_args(argv)
    try:
        table = run_sweep(args.grid)
    except (OSError, ValueError) as err:
        print(f"sweep: {err}", file=sys.stderr)
        return 2
    columns = [c for c in table.columns if c not in ("error",)]
    print(table[columns].to_string(index=False))
    failed = table[table["status"] == "failed"]
    for _, row in failed.iterrows():
        print(f"failed: {row['run_name']}: {row['error']}", file=sys.stderr)
    print(f"results: {runs_dir() / 'sweeps'}")
    return 1 if len(failed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
