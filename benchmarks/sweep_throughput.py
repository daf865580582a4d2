"""Sweep throughput: how many runs at once suit this machine?

Usage (about 15 minutes on 2 CPU cores with the defaults)::

    .venv/bin/python benchmarks/sweep_throughput.py [--grid sweeps/example_grid.yaml] [--repeats 2]

Runs the grid's every combination, in this one process, three ways, each into a fresh
temporary runs folder (your ``runs/`` is untouched): one after another without Dask
(``run_combination`` called directly: what a sweep did before it ran on Dask), and on a local
Dask cluster with 1 and with 2 workers. The ways take turns, ``--repeats`` times, so that
the machine's ups and downs hit them alike. Prints each sweep's wall-clock seconds, the
throughput (runs per minute), and checks that every way gives the same metrics. A benchmark,
not a test: its numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pandas as pd  # noqa: E402

from mnist_helpers import sweep  # noqa: E402
from mnist_helpers.paths import project_root  # noqa: E402

#: The metrics that must agree between the ways (seconds of course differ).
SAME = ["val_accuracy", "test_accuracy", "test_loss"]


def sequential(grid: Path) -> pd.DataFrame:
    """Every combination one after another in this process, without Dask."""
    spec = sweep.load_grid(grid)
    notebook = project_root() / "notebooks" / sweep.NOTEBOOK
    text = notebook.read_text()
    rows = []
    for settings in sweep.combinations(spec["grid"]):
        name = sweep.run_name_for(spec["name"], settings, spec["fixed"])
        result = sweep.run_combination(text, notebook.name, name, {**spec["fixed"], **settings})
        metrics = json.loads(result["files"]["metrics.json"])
        rows.append({"run_name": name, **{key: metrics[key] for key in SAME}})
    return pd.DataFrame(rows)


def timed(way: str, grid: Path) -> tuple[float, pd.DataFrame]:
    """Run the grid one ``way`` into a fresh runs folder; return (seconds, table)."""
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as runs:
        os.environ["MNIST_RUNS_DIR"] = runs
        start = time.perf_counter()
        if way == "no Dask, one at a time":
            table = sequential(grid)
        else:
            table = sweep.run_sweep(grid, workers=int(way.split()[1]))
        seconds = time.perf_counter() - start
    assert (table.get("status", pd.Series(["done"])) == "done").all(), table
    return seconds, table[["run_name", *SAME]].sort_values("run_name").reset_index(drop=True)


def cpu_model() -> str:
    """The processor's name (from /proc/cpuinfo on Linux), else what platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=Path, default=project_root() / "sweeps/example_grid.yaml")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    n_runs = len(sweep.combinations(sweep.load_grid(args.grid)["grid"]))
    ways = ["no Dask, one at a time", "Dask: 1 worker", "Dask: 2 workers"]
    seconds: dict[str, list[float]] = {way: [] for way in ways}
    reference = None
    for repeat in range(1, args.repeats + 1):
        for way in ways:
            took, table = timed(way, args.grid)
            seconds[way].append(took)
            print(f"repeat {repeat}, {way}: {took:.0f} s", flush=True)
            if reference is None:
                reference = table
            pd.testing.assert_frame_equal(table, reference)  # same seeds, same numbers
    print(f"\n{n_runs} runs of {args.grid.name}; {os.cpu_count()} cores, {cpu_model()}")
    rows = []
    for way in ways:
        median = statistics.median(seconds[way])
        rows.append(
            {
                "way": way,
                "seconds (each repeat)": ", ".join(f"{s:.0f}" for s in seconds[way]),
                "median s": round(median),
                "runs per minute": round(60 * n_runs / median, 2),
            }
        )
    print(pd.DataFrame(rows).to_string(index=False))
    print("every way gave the same val/test accuracy and test loss for every run")


if __name__ == "__main__":
    main()
