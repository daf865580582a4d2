"""Parameter sweeps: run ``03_training.ipynb`` once per combination of a grid.

A grid is a small YAML file (``sweeps/example_grid.yaml`` ships with the course)::

    name: example            # the sweep's name: runs are called example_<settings>
    fixed:                   # parameters every run gets
      profile: smoke
    grid:                    # every combination of these values is run
      model: [mlp, cnn]
      n_train: [2000, 6000]

From a terminal: ``python -m mnist_helpers.sweep sweeps/example_grid.yaml``; from a notebook:
``run_sweep("sweeps/example_grid.yaml")``. Each combination is executed with papermill into
its own ``runs/<run name>/`` (the executed notebook is kept there as ``03_training.ipynb``). A
failing combination is reported and the others still run; re-running skips every combination
whose ``metrics.json`` already exists. At the end every ``metrics.json`` is gathered into one
table, saved as ``runs/sweeps/<name>.csv``, with a plot beside it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from pathlib import Path

import pandas as pd

from mnist_helpers.files import atomic_path
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


def load_grid(path: str | Path) -> dict:
    """Read and check a grid file; return ``{"name", "fixed", "grid"}``.

    Raises:
        ValueError: the file is not a mapping, has unknown keys, or a grid entry is not a
            non-empty list; the message says what to write instead.
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
    if "run_name" in fixed or "run_name" in grid:
        raise ValueError(f"{path}: run_name is set by the sweep itself; remove it")
    return {"name": name, "fixed": fixed, "grid": grid}


def combinations(grid: dict) -> list[dict]:
    """Every combination of the grid's values, in order (the last key varies fastest)."""
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def run_name_for(sweep: str, settings: dict) -> str:
    """A readable, valid run name, e.g. ``example_learning_rate-0.001_seed-1``."""
    parts = [f"{key}-{value}" for key, value in settings.items()]
    return re.sub(r"[^A-Za-z0-9._-]", "", "_".join([sweep, *parts]))


def run_sweep(grid_file: str | Path, notebook: str | Path | None = None) -> pd.DataFrame:
    """Run every combination of ``grid_file`` not already done; return the results table.

    The table has one row per combination: its settings, ``run_name``, ``status`` (``done``,
    ``skipped`` when it was done before, or ``failed``), ``error`` and the metrics of
    ``metrics.json`` (``val_accuracy``, the one to choose by; ``test_accuracy``,
    ``test_loss``, ``train_seconds``, ``parameters``, ``epochs_run``).
    It is also written to ``runs/sweeps/<name>.csv`` with a plot ``<name>.png``.

    Taught in 05.
    """
    import papermill

    from mnist_helpers.course import execute_notebook

    spec = load_grid(grid_file)
    notebook = Path(notebook or project_root() / "notebooks" / NOTEBOOK)
    rows = []
    todo = combinations(spec["grid"])
    for i, settings in enumerate(todo, start=1):
        name = run_name_for(spec["name"], settings)
        run = runs_dir() / name
        row = {"run_name": name, **settings, "status": "done", "error": ""}
        if (run / "metrics.json").is_file():
            row["status"] = "skipped"
            print(f"[{i}/{len(todo)}] {name}: already done, skipped", flush=True)
        else:
            print(f"[{i}/{len(todo)}] {name}: running ...", flush=True)
            parameters = {**spec["fixed"], **settings, "run_name": name}
            try:
                # each run keeps its own figures; the committed figures/ stay untouched
                execute_notebook(notebook, run / notebook.name, parameters, figures=run / "figures")
            except papermill.PapermillExecutionError as err:
                row.update(status="failed", error=f"{err.ename}: {err.evalue}")
                print(f"[{i}/{len(todo)}] {name}: FAILED: {row['error']}", flush=True)
        if (run / "metrics.json").is_file() and row["status"] != "failed":
            metrics = json.loads((run / "metrics.json").read_text())
            for key in METRICS:
                row[key] = metrics.get(key)
        rows.append(row)
    table = pd.DataFrame(rows)
    save_results(table, spec["name"], list(spec["grid"]))
    return table


def save_results(table: pd.DataFrame, name: str, keys: list[str]) -> Path:
    """Write ``table`` to ``runs/sweeps/<name>.csv`` and its plot to ``<name>.png``."""
    from mnist_helpers.plots import plot_sweep

    folder = runs_dir() / "sweeps"
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"{name}.csv"
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False)
    if "test_accuracy" in table and table["test_accuracy"].notna().any():
        fig = plot_sweep(table, keys, title=f"Sweep '{name}'")
        with atomic_path(folder / f"{name}.png") as tmp:
            fig.savefig(tmp, bbox_inches="tight")
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
