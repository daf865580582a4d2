"""Parameter sweeps: run ``04_training.ipynb`` once per combination of a grid, on Dask.

A grid file (``sweeps/example_grid.yaml``) holds ``name``, ``fixed`` (parameters of every
run) and ``grid`` (values to combine). Each run executes on a Dask worker and comes back to
``runs/<run name>/``; the table goes to ``runs/sweeps/<name>.csv``. Taught in 08."""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import logging
import math
import os
import re
import reprlib
import sys
import tempfile
import threading
import time
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from tqdm.auto import tqdm

from mnist_helpers.checks import check_int, error_line
from mnist_helpers.files import (
    atomic_path,
    check_plain_value,
    read_yaml,
    staged_folder,
    write_bytes_atomic,
    write_text_atomic,
)
from mnist_helpers.paths import project_root, runs_dir
from mnist_helpers.plots import plot_sweep

try:
    import dask
    import papermill
    import psutil
    from distributed import Client, LocalCluster, as_completed, get_worker

    from mnist_helpers import course
except ImportError as err:
    raise ImportError(
        f"sweeps need Dask and papermill ({err}): "
        'pip install "mnist_helpers[sweep]" (make setup installs everything)'
    ) from err

NOTEBOOK = "04_training.ipynb"
#: The columns of ``metrics.json`` that the results table keeps.
METRICS = tuple("val_accuracy test_accuracy test_loss train_seconds parameters epochs_run".split())
LEFT_OUT = ("nbval-skip",)  #: Tags of 04's cells left out: its teaching experiments.
PARAMS_FILE = "sweep_params.json"  #: In a finished run's folder: the parameters it ran with.
GIB_PER_RUN = 2  #: GiB one run of 04 may take: the local cluster runs as many as fit.
ALLOWED_FAILURES = 2  #: Workers that may die on one combination before it fails (local cluster).
CONNECT_TIMEOUT = 10  #: Seconds to wait for a ``--scheduler`` before calling it unreachable.
TOPIC = "mnist-sweep"  #: The Dask event topic on which workers say what they run.
MAX_COMBINATIONS = 1000  #: The most combinations a grid may make (each is a training run).
MAX_NAME_LENGTH = 80  #: The longest sweep name (it begins every run's name).


def load_grid(path: str | Path) -> dict:
    """Read and check a grid file; return ``{"name", "fixed", "grid"}``. Raises ``ValueError``,
    saying what to write instead, for anything but a plain YAML mapping of single values and
    lists of distinct values making at most :data:`MAX_COMBINATIONS`."""
    path = Path(path)
    spec = read_yaml(path, "grid file")
    if not isinstance(spec, dict):
        got = "is empty" if spec is None else f"holds a {type(spec).__name__}"
        raise ValueError(
            f"{path} {got}; a grid file holds a mapping with name, fixed and grid, like "
            "sweeps/example_grid.yaml"
        )
    unknown = set(spec) - {"name", "fixed", "grid"}
    if unknown:
        raise ValueError(
            f"{path}: unknown key(s) {sorted(unknown, key=str)}; allowed: name, fixed, grid"
        )
    name = str(spec.get("name") or path.stem)
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or len(name) > MAX_NAME_LENGTH:
        raise ValueError(
            f"{path}: name must be letters, digits, '.', '_' or '-', at most "
            f"{MAX_NAME_LENGTH} of them, got {reprlib.repr(name)}"
        )
    fixed = spec.get("fixed") or {}
    grid = spec.get("grid") or {}
    if not isinstance(fixed, dict) or not isinstance(grid, dict) or not grid:
        raise ValueError(f"{path}: 'fixed' must be a mapping and 'grid' a non-empty mapping")
    for key in (*fixed, *grid):
        if not isinstance(key, str):
            raise ValueError(f"{path}: {key!r} is not a parameter name; write one such as seed")
    for key, value in fixed.items():
        check_plain_value(value, f"{path}: fixed {key!r}", "; values to try in turn go in 'grid'")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ValueError(
                f"{path}: grid entry {key!r} must be a non-empty list, e.g. {key}: [1, 2]"
            )
        seen = set()
        for value in values:
            check_plain_value(value, f"{path}: grid entry {key!r}")
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
    lengths = [len(values) for values in grid.values()]  # counted, not built
    if math.prod(lengths) > MAX_COMBINATIONS:
        raise ValueError(
            f"{path}: the grid makes {math.prod(lengths):,} combinations "
            f"({' x '.join(map(str, lengths))} values), more than the {MAX_COMBINATIONS:,} a "
            "sweep runs (each is a training run); list fewer values, or move a parameter to 'fixed'"
        )
    return {"name": name, "fixed": fixed, "grid": grid}


def check_parameters(spec: dict, notebook: str | Path, source: str | Path = "grid") -> None:
    """Refuse a grid (``spec``, from :func:`load_grid`, read from ``source``) whose keys are no
    parameters of ``notebook``: a misspelt key would otherwise be dropped silently."""
    notebook = Path(notebook)
    allowed = set(course.notebook_parameters(notebook)) - {"run_name"}
    unknown = [key for key in (*spec["fixed"], *spec["grid"]) if key not in allowed]
    if unknown:
        raise ValueError(
            f"{source}: {unknown} not parameter(s) of {notebook.name}; "
            f"fix or remove them (allowed: {', '.join(sorted(allowed))})"
        )


def combinations(grid: dict) -> list[dict]:
    """Every combination of the grid's values, in order (the last key varies fastest)."""
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


def _canonical(value: object) -> str:
    """One text per value, as the notebook sees it (``1``, ``1.0``, ``True`` and ``"1"``
    differ) and whatever the order of its keys."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def run_name_for(sweep: str, settings: dict, fixed: dict | None = None) -> str:
    """A valid run name: the sweep's name and its grid ``settings``, then a short hash of
    every parameter (``fixed`` too), e.g. ``example_architecture-cnn_n_train-2000_3f9a1c``."""
    parameters = {**(fixed or {}), **settings}
    digest = hashlib.sha256(_canonical(parameters).encode()).hexdigest()[:6]
    parts = [f"{key}-{value}" for key, value in settings.items()]
    readable = re.sub(r"[^A-Za-z0-9._-]", "", "_".join([sweep, *parts]))[:80]  # + the hash
    return f"{readable}_{digest}"


def _ran_with(run: Path, parameters: dict) -> bool:
    """Whether ``run`` finished with exactly ``parameters`` (its ``sweep_params.json``)."""
    try:
        recorded = json.loads((run / PARAMS_FILE).read_text())
    except (OSError, ValueError):
        return False
    return _canonical(recorded) == _canonical(parameters)


def _error_text(err: BaseException) -> str:
    """A failing cell's ``ename: evalue``, else the error in one line (+ how to get the course)."""
    if isinstance(err, papermill.PapermillExecutionError):
        return f"{err.ename}: {err.evalue}"
    if isinstance(err, ModuleNotFoundError) and "mnist_helpers" in str(err):
        return f"{error_line(err)}; install the course on every worker (make setup there)"
    return error_line(err)


def runs_at_once(cores: int | None = None, memory_gib: float | None = None) -> int:
    """How many combinations the local cluster runs at once: one per core, no more than
    :data:`GIB_PER_RUN` each fit in memory, at least one. Default: this machine's."""
    cores = cores or os.cpu_count() or 1
    if memory_gib is None:
        memory_gib = psutil.virtual_memory().total / 2**30
    return max(1, min(cores, int(memory_gib // GIB_PER_RUN)))


def run_combination(
    notebook_text: str, notebook_name: str, run_name: str, parameters: dict
) -> dict:
    """Run one combination here (on a Dask worker) in a temporary folder; return ``status``
    (``done``, ``failed``), ``error``, ``worker``, ``seconds``, ``files`` (relative path: bytes)."""
    worker = _report(run_name, "started")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mnist-sweep-") as tmp:
        notebook = Path(tmp) / notebook_name
        notebook.write_text(notebook_text)
        run = Path(tmp) / "runs" / run_name
        status, error = "done", ""
        try:
            course.execute_notebook(
                notebook,
                run / notebook_name,
                {**parameters, "run_name": run_name},
                figures=run / "figures",
                leave_out=LEFT_OUT,
                env={"MNIST_RUNS_DIR": str(run.parent)},
            )
            if not (run / "metrics.json").is_file():
                raise RuntimeError(f"{notebook_name} finished but wrote no metrics.json")
        except Exception as err:  # any failure (a cell, a dead kernel) fails this run only
            status, error = "failed", _error_text(err)
        files = {
            path.relative_to(run).as_posix(): path.read_bytes()
            for path in sorted(run.rglob("*"))
            if path.is_file()
        }
    seconds = round(time.perf_counter() - start, 1)
    _report(run_name, "finished")
    return {"status": status, "error": error, "worker": worker, "seconds": seconds, "files": files}


def _report(run_name: str, state: str) -> str:
    """Tell the submitter (via the scheduler) this run's ``state``; return this worker's name: its
    ``--name``, ``local worker N`` on a local cluster, ``local`` outside Dask (telling no one)."""
    try:
        worker = get_worker()
    except ValueError:  # not on a worker: called directly
        return "local"
    name = f"local worker {worker.name}" if isinstance(worker.name, int) else str(worker.name)
    worker.log_event(TOPIC, {"run": run_name, "name": name, "state": state})
    return name


def store_run(run: Path, result: dict, parameters: dict) -> None:
    """Put a combination's ``files`` in place of the folder ``run`` (and ``sweep_params.json`` if
    done); a file not bytes or outside ``run`` raises ``ValueError``, and nothing is written."""
    for relative, data in result["files"].items():
        parts = relative.split("/") if isinstance(relative, str) else [""]
        if any(part in ("", ".", "..") or "\\" in part or "\0" in part for part in parts):
            raise ValueError(
                f"a worker's result names the file {reprlib.repr(relative)}, which is not "
                "inside the run's folder (only plain relative paths such as figures/a.png); "
                "nothing of this run was stored"
            )
        if not isinstance(data, bytes):
            raise ValueError(
                f"a worker's result gives {type(data).__name__}, not bytes, for "
                f"{relative!r}; nothing of this run was stored"
            )
    with staged_folder(run) as staging:
        for relative, data in result["files"].items():
            write_bytes_atomic(staging / relative, data)
        if result["status"] == "done":
            write_text_atomic(staging / PARAMS_FILE, json.dumps(parameters, indent=2, default=str))


class Progress:
    """A sweep's progress bar and a line per event, with the counts (thread-safe, for Dask)."""

    def __init__(self, total: int, skipped: int = 0) -> None:
        self.total, self.done, self.failed = total, skipped, 0
        self.running: dict[str, str] = {}  # run name -> worker
        self._lock = threading.Lock()
        self.bar = tqdm(total=total, initial=skipped, unit="run", desc="sweep", disable=None)

    def counts(self) -> str:
        """``2/4 done, 0 failed, 1 running``."""
        return f"{self.done}/{self.total} done, {self.failed} failed, {len(self.running)} running"

    def say(self, text: str) -> None:
        tqdm.write(f"[{self.counts()}] {text}")
        self.bar.set_postfix_str(f"{self.failed} failed, {len(self.running)} running")

    def event(self, event: tuple) -> None:
        """A worker's event ``(timestamp, {"run", "name", "state"})``, on Dask's thread."""
        message = event[1]
        with self._lock:
            if message["state"] == "finished":
                self.running.pop(message["run"], None)
                return
            again = " (again: its last worker died)" if message["run"] in self.running else ""
            self.running[message["run"]] = message["name"]
            self.say(f"{message['run']}: started on {message['name']}{again}")

    def finished(self, run_name: str, row: dict) -> None:
        with self._lock:
            self.running.pop(run_name, None)
            if row["status"] == "failed":
                self.failed += 1
                text = f"FAILED: {row['error']}"
            else:
                self.done += 1
                accuracy = row.get("test_accuracy")
                text = "done" + (f", test accuracy {accuracy:.2%}" if accuracy is not None else "")
            self.bar.update(1)
            self.say(f"{run_name}: {text}")


def connect(scheduler: str | None = None, workers: int | None = None, dashboard: str | None = None):
    """A Dask client on ``scheduler`` (or ``DASK_SCHEDULER_ADDRESS``), else on a cluster it
    starts on 127.0.0.1 (returned too, else ``None``). Raises ``ConnectionError``."""
    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        try:
            return Client(address, timeout=CONNECT_TIMEOUT), None
        except Exception as err:  # refused, timed out, malformed, or not a Dask scheduler
            raise ConnectionError(
                f"no Dask scheduler answers at {address} within {CONNECT_TIMEOUT} s "
                f"({error_line(err, 200)}). Check that `dask scheduler` runs on that machine "
                "and its port (8786 by default) is open to this one; or leave out --scheduler "
                "(and unset DASK_SCHEDULER_ADDRESS) to run on this machine"
            ) from None
    try:
        with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
            cluster = LocalCluster(
                n_workers=workers or runs_at_once(),
                threads_per_worker=1,  # one run per worker; the run's kernel uses the cores
                processes=True,
                host="127.0.0.1",  # the scheduler and the workers: this machine only
                dashboard_address=dashboard or "127.0.0.1:0",  # this machine, a free port
                silence_logs=logging.ERROR,
            )
    except (OSError, RuntimeError) as err:  # e.g. a --dashboard host that is not this machine
        hint = f"; --dashboard {dashboard} must name an address of this machine (127.0.0.1, or "
        hint += "0.0.0.0 for all of them) and a port"
        raise ConnectionError(
            f"cannot start a Dask cluster on this machine ({err}){hint if dashboard else ''}"
        ) from None
    return Client(cluster), cluster


def run_sweep(
    grid_file: str | Path, scheduler=None, workers: int | None = None, dashboard: str | None = None
) -> pd.DataFrame:
    """Run every combination of ``grid_file`` not already done; return the results table, a row
    per combination: ``run_name``, its settings, ``status`` (``done``, ``skipped``, ``failed``),
    ``error``, ``worker`` and the metrics, written to ``runs/sweeps/<name>.csv`` as runs finish
    and plotted at the end. ``scheduler``: ``None`` for a cluster on this machine (``workers``
    runs at once, its dashboard at ``dashboard``, ``HOST:PORT``), a scheduler's address, or a
    ``Client``. Raises ``ValueError`` (nothing ran) or ``ConnectionError``. Taught in 08."""
    remote = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    for option, value in (("--workers", workers), ("--dashboard", dashboard)):
        if remote and value is not None:
            raise ValueError(
                f"{option} is for the cluster a sweep starts on this machine, not for the "
                f"scheduler at {remote}: leave it out (a `dask worker` has its own --nworkers, "
                "a `dask scheduler` its own --dashboard-address)"
            )
    if workers is not None:
        check_int("--workers", workers, 1, os.cpu_count() or 1, hint="one run per core at most")
    address = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})", str(dashboard))
    if dashboard is not None and (not address or int(address.group(2)) > 65535):
        raise ValueError(
            f"--dashboard must be HOST:PORT, e.g. 127.0.0.1:8787 (this machine only) or "
            f"0.0.0.0:8787 (every network this machine is on), got {dashboard!r}"
        )
    spec = load_grid(grid_file)
    notebook = project_root() / "notebooks" / NOTEBOOK
    check_parameters(spec, notebook, grid_file)
    keys = list(spec["grid"])
    rows: list[dict] = []
    todo = []  # (index, run name, parameters) of the combinations to run
    for settings in combinations(spec["grid"]):
        name = run_name_for(spec["name"], settings, spec["fixed"])
        parameters = {**spec["fixed"], **settings}
        row = {"run_name": name, **settings, "status": "", "error": "", "worker": ""}
        row.update(dict.fromkeys(METRICS))
        run = runs_dir() / name
        if (run / "metrics.json").is_file() and _ran_with(run, parameters):
            row["status"] = "skipped"
            _add_metrics(row, run)
        else:
            todo.append((len(rows), name, parameters))
        rows.append(row)
    progress = Progress(len(rows), skipped=len(rows) - len(todo))
    try:
        if todo:
            options = (scheduler, workers, dashboard)
            _run_on_dask(notebook, todo, rows, options, progress, spec["name"], keys)
    finally:
        progress.bar.close()
    table = pd.DataFrame(rows)
    save_results(table, spec["name"], keys)
    return table


def _run_on_dask(notebook, todo, rows, cluster_options, progress, name, keys) -> None:
    """Submit ``todo`` to Dask (``cluster_options``: ``(scheduler, workers, dashboard)``), store
    each result as it comes and fill its row of ``rows``."""
    scheduler = cluster_options[0]
    ours = not isinstance(scheduler, Client)  # a client we make, we close
    client, cluster = connect(*cluster_options) if ours else (scheduler, None)
    notebook_text = notebook.read_text()
    futures = {}
    try:
        if cluster is not None:
            progress.say(f"Dask dashboard: {cluster.dashboard_link}")
        client.subscribe_topic(TOPIC, progress.event)
        if not client.scheduler_info().get("workers"):
            progress.say(f"no worker has joined {client.scheduler.address} yet: waiting for one")
        for index, run_name, parameters in todo:
            future = client.submit(
                run_combination, notebook_text, notebook.name, run_name, parameters, pure=False
            )
            futures[future] = (index, run_name, parameters)
        for future in as_completed(futures):
            index, run_name, parameters = futures[future]
            try:
                result = future.result()
            except Exception as err:  # the task itself failed: e.g. its workers all died
                result = {"status": "failed", "error": _error_text(err), "files": {}}
            future.release()  # the worker may forget the files now
            run = runs_dir() / run_name
            (run / PARAMS_FILE).unlink(missing_ok=True)  # a record only if store_run writes one
            if result["files"]:
                try:
                    store_run(run, result, parameters)
                except ValueError as err:  # a file named outside the run's folder
                    result = {**result, "status": "failed", "error": str(err)}
            row = rows[index]
            row.update({key: result.get(key, "") for key in ("status", "error", "worker")})
            if result["status"] == "done":
                _add_metrics(row, run)
            progress.finished(run_name, row)
            finished = pd.DataFrame([row for row in rows if row["status"]])
            save_results(finished, name, keys, plot=False)  # an interrupted sweep keeps them
    finally:
        client.cancel(list(futures))
        client.unsubscribe_topic(TOPIC)
        if ours:
            client.close()
        if cluster is not None:
            cluster.close()


def _add_metrics(row: dict, run: Path) -> None:
    """Copy the table's metrics from ``run``'s ``metrics.json`` into ``row``."""
    metrics = json.loads((run / "metrics.json").read_text())
    row.update({key: metrics.get(key) for key in METRICS})


def save_results(table: pd.DataFrame, name: str, keys: list[str], plot: bool = True) -> Path:
    """Write ``table`` to ``runs/sweeps/<name>.csv`` (and, if ``plot``, its plot to
    ``<name>.png``); return the CSV's path."""
    folder = runs_dir() / "sweeps"
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / f"{name}.csv"
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False)
    if plot and "test_accuracy" in table and table["test_accuracy"].notna().any():
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
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: "
        "$DASK_SCHEDULER_ADDRESS, else a cluster on this machine)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help=f"runs at once on this machine's cluster (default: {runs_at_once()} here)",
    )
    parser.add_argument(
        "--dashboard",
        metavar="HOST:PORT",
        help="where this machine's cluster serves its Dask dashboard (default: 127.0.0.1 "
        "on a free port, this machine only); 0.0.0.0:8787 opens it to every network, "
        "without a login",
    )
    args = parser.parse_args(argv)
    try:
        table = run_sweep(args.grid, args.scheduler, args.workers, args.dashboard)
    except (OSError, ValueError) as err:
        print(f"sweep: {err}", file=sys.stderr)
        return 2
    print(table.drop(columns=["error", "worker"]).to_string(index=False))
    failed = table[table["status"] == "failed"]
    for _, row in failed.iterrows():
        print(f"failed: {row['run_name']}: {row['error']}", file=sys.stderr)
    print(f"results: {runs_dir() / 'sweeps'}")
    return 1 if len(failed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
