"""Tests of mnist_helpers.sweep: grid files, run names, a failing combination, resuming,
running on Dask (an in-process cluster for the unit tests; real worker processes, one of them
killed, for the integration test)."""

from __future__ import annotations

import contextlib
import json
import re
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from mnist_helpers import course, sweep
from mnist_helpers.paths import project_root

#: A smoke run of 04 in a sweep must reach this test accuracy (chance is 10 %; the example
#: grid's weakest row, the MLP on 2,000 images, gets about 87 %).
SWEEP_FLOOR = 0.85
#: What 04 accepts as a run_name.
VALID_RUN_NAME = re.compile(r"[A-Za-z0-9._-]+")


def write(tmp_path, text: str):
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return path


class FakeNotebook:
    """Stands in for ``course.execute_notebook``: records each call, writes a metrics.json.

    ``fail``: a function of the parameters that returns an exception to raise (or None).
    """

    def __init__(self, fail=None):
        self.calls: list[dict] = []
        self.fail = fail

    def __call__(self, notebook, output, parameters, figures=None, leave_out=(), env=None):
        assert leave_out == sweep.LEFT_OUT  # a sweep never runs 04's teaching experiments
        # the run's folder and figures are the worker's own, in its temporary folder
        assert output.parent.parent == Path(env["MNIST_RUNS_DIR"])
        assert output.parent.name == parameters["run_name"]
        assert figures == output.parent / "figures"
        assert notebook.read_text() == (project_root() / "notebooks" / sweep.NOTEBOOK).read_text()
        self.calls.append(dict(parameters))
        error = self.fail(parameters) if self.fail else None
        if error is not None:
            raise error
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("{}")
        metrics = {
            "val_accuracy": 0.9,
            "test_accuracy": 0.5 + 0.001 * len(self.calls),  # tells runs apart
            "test_loss": 0.3,
            "train_seconds": 1.0,
            "parameters": 1000,
            "epochs_run": parameters.get("epochs", 2),
        }
        (output.parent / "metrics.json").write_text(json.dumps(metrics))
        return output


@pytest.fixture(scope="module")
def dask_cluster():
    """A Dask cluster inside this process (one worker thread): the stand-ins below reach it."""
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        dashboard_address="127.0.0.1:0",  # like the sweep's own: nothing open to the network
        worker_dashboard_address="127.0.0.1:0",
    )
    yield cluster
    cluster.close()


@pytest.fixture
def fake(tmp_path, monkeypatch, dask_cluster, workspace):
    """Runs go to tmp_path/runs; the notebook is never really executed; the sweep runs on
    the in-process cluster instead of starting its own."""
    notebook = FakeNotebook()
    monkeypatch.setattr(course, "execute_notebook", notebook)
    clients = []

    def connect(scheduler=None, workers=None, dashboard=None):
        from distributed import Client

        clients.append(Client(dask_cluster))
        return clients[-1], None

    monkeypatch.setattr(sweep, "connect", connect)
    yield notebook
    assert all(client.status == "closed" for client in clients)  # the sweep closed its own


def test_combinations_cover_the_grid_in_order():
    combos = sweep.combinations({"a": [1, 2], "b": ["x", "y"]})
    assert combos == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
    ]


def test_run_names_are_readable_and_valid():
    name = sweep.run_name_for("lr", {"learning_rate": 0.001, "seed": 1})
    assert re.fullmatch(r"lr_learning_rate-0\.001_seed-1_[0-9a-f]{6}", name)
    name = sweep.run_name_for("s", {"model": "keras example!", "filters": [16, 32]})
    assert name.startswith("s_model-kerasexample_filters-1632_")
    assert VALID_RUN_NAME.fullmatch(name)
    long = sweep.run_name_for("s", {"model": "x" * 500})
    assert VALID_RUN_NAME.fullmatch(long) and len(long) <= 100


def test_run_names_key_on_every_parameter():
    """Settings that read the same, or differ only in `fixed`, still get different runs."""
    name = sweep.run_name_for
    assert name("s", {"filters": [16, 32]}) != name("s", {"filters": [1, 632]})
    assert name("s", {"architecture": "cnn"}, {"epochs": 2}) != name(
        "s", {"architecture": "cnn"}, {"epochs": 3}
    )
    assert name("s", {"seed": 1}) != name("s", {"seed": "1"})  # the notebook sees 1 or '1'
    # the same parameters always give the same run, whatever the order of the grid file
    assert name("s", {"a": 1}, {"b": 2, "c": 3}) == name("s", {"a": 1}, {"c": 3, "b": 2})
    example = name("example", {"architecture": "cnn", "n_train": 2000}, {"profile": "smoke"})
    assert re.fullmatch(r"example_architecture-cnn_n_train-2000_[0-9a-f]{6}", example)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- 1\n- 2\n", "holds a mapping"),
        ("name: x\ngrid: {seed: [1]}\nfoo: 1\n", r"unknown key\(s\) \['foo'\]"),
        ("name: x\ngrid: {seed: 1}\n", r"grid entry 'seed' must be a non-empty list"),
        ("name: x\ngrid: {}\n", "non-empty mapping"),
        ("name: x\nfixed: {run_name: a}\ngrid: {seed: [1]}\n", "run_name is set by the sweep"),
        ("name: a/b\ngrid: {seed: [1]}\n", "name must be letters"),
        ("name: x\ngrid: {seed: [1, 2, 1]}\n", "grid entry 'seed' lists 1 twice"),
        ("name: x\nfixed: {seed: 1}\ngrid: {seed: [2]}\n", r"\['seed'\] set in both"),
    ],
)
def test_bad_grid_files_say_what_is_wrong(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        sweep.load_grid(write(tmp_path, text))


@pytest.mark.parametrize(
    "text",
    [
        "name: x\ngrid:\n  filters: [16, 32]\n",
        "name: x\nfixed: {learnig_rate: 0.01}\ngrid:\n  seed: [1, 2]\n",
    ],
)
def test_unknown_parameters_are_refused_before_anything_runs(tmp_path, fake, capsys, text):
    grid = write(tmp_path, text)
    with pytest.raises(ValueError, match=r"not parameter\(s\) of 04_training\.ipynb") as error:
        sweep.run_sweep(grid)
    assert "allowed: architecture, batch_size, epochs, learning_rate, n_train" in str(error.value)
    assert "run_name" not in str(error.value).split("allowed:")[1]  # the sweep sets it
    assert fake.calls == []
    assert not (tmp_path / "runs").exists()
    assert sweep.main([str(grid)]) == 2
    assert "not parameter(s) of 04_training.ipynb" in capsys.readouterr().err


#: A billion laughs in a `fixed` value: a few hundred bytes of aliases that expand to 9**9 items.
ALIAS_BOMB = (
    "name: x\nfixed:\n  architecture:\n    a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"    a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9))
    + "grid: {seed: [1]}\n"
)


def _grid_of(lengths: list[int]) -> str:
    """A grid with one entry per length, each listing that many values."""
    keys = ["seed", "epochs", "batch_size", "learning_rate", "n_train"]
    lines = [f"  {key}: {list(range(1, n + 1))}" for key, n in zip(keys, lengths, strict=False)]
    return "name: x\ngrid:\n" + "\n".join(lines) + "\n"


def test_a_grid_of_too_many_runs_is_refused_before_it_is_built(
    tmp_path, monkeypatch, capsys, workspace
):
    """11**5 = 161,051 runs (a typo away from 11 values of 2): counted, never built."""
    grid = write(tmp_path, _grid_of([11] * 5))
    with pytest.raises(ValueError, match=r"makes 161,051 combinations \(11 x 11 x 11 x 11 x 11"):
        sweep.load_grid(grid)
    monkeypatch.setattr(sweep, "combinations", lambda grid: pytest.fail("built the grid"))
    assert sweep.main([str(grid)]) == 2
    err = capsys.readouterr().err
    assert f"more than the {sweep.MAX_COMBINATIONS:,}" in err and "list fewer values" in err
    assert not (tmp_path / "runs").exists()


def test_a_grid_at_the_limit_is_accepted(tmp_path):
    assert sweep.MAX_COMBINATIONS == 1000  # tens of runs for a class; a thousand at most
    spec = sweep.load_grid(write(tmp_path, _grid_of([10, 10, 10])))
    assert len(sweep.combinations(spec["grid"])) == sweep.MAX_COMBINATIONS


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    assert len(ALIAS_BOMB) < 700
    with pytest.raises(ValueError, match=r"grid\.yaml: line 4: anchors .* are not allowed"):
        sweep.load_grid(write(tmp_path, ALIAS_BOMB))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nfixed: {architecture: {a: 1}}\ngrid: {seed: [1]}\n", "fixed 'architecture'"),
        ("name: x\nfixed: {seed: [1, 2]}\ngrid: {epochs: [1]}\n", "fixed 'seed'"),
        ("name: x\nfixed: {seed: 2024-01-01}\ngrid: {epochs: [1]}\n", "fixed 'seed'"),
        ("name: x\ngrid: {seed: [[1, 2], 3]}\n", r"grid entry 'seed': \[1, 2\]"),
        ("name: x\ngrid: {seed: [1, {a: 2}]}\n", r"grid entry 'seed': \{'a': 2\}"),
    ],
)
def test_parameters_are_single_plain_values(tmp_path, text, message):
    """What 04's parameters cell takes: text, a number, true/false or null, nothing nested."""
    with pytest.raises(ValueError, match=message) as error:
        sweep.load_grid(write(tmp_path, text))
    assert "must be a single value (text, a number, true/false or null)" in str(error.value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.yaml", "cannot read the grid file"),
        (lambda d: d, "it is not a file"),
        (lambda d: write(d, ""), "grid.yaml is empty"),
        (lambda d: write(d, "- 1\n- 2\n"), "holds a mapping"),
        (lambda d: write(d, "name: x\ngrid: {seed: [1, 2]\n"), "grid.yaml: line 3"),
        (lambda d: write(d, "name: x\ngrid:\n\tseed: [1]\n"), "grid.yaml: line 3"),
        (
            lambda d: write(d, "name: x\nfixed: {seed: !!python/object/apply:os.system [id]}\n"),
            "grid.yaml: line 2",
        ),
        (lambda d: write(d, "name: x\nfixed: {seed: !custom 1}\n"), "grid.yaml: line 2"),
        (lambda d: write(d, ALIAS_BOMB), "anchors (&name) and aliases (*name) are not allowed"),
        (lambda d: write(d, "1: a\nfoo: b\n"), "unknown key(s) [1, 'foo']"),
        (lambda d: write(d, f"name: {'x' * 200}\ngrid: {{seed: [1]}}\n"), "at most 80"),
        (lambda d: write(d, _grid_of([11] * 5)), "makes 161,051 combinations"),
    ],
)
def test_careless_grid_files_get_a_message_and_exit_2(
    tmp_path, monkeypatch, capsys, make, message, workspace
):
    assert sweep.main([str(make(tmp_path))]) == 2
    out, err = capsys.readouterr()
    assert message in err and "Traceback" not in err + out
    assert not (tmp_path / "runs").exists()


def test_bytes_that_are_not_text_and_huge_files_are_refused(
    tmp_path, monkeypatch, capsys, workspace
):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: x\ngrid: {seed: [1]}\n\xff\xfe\n")
    huge = tmp_path / "huge.yaml"
    huge.write_text("name: x\ngrid: {seed: [1]}\n" + "# padding\n" * 100_000)
    for path, message in ((binary, "not UTF-8"), (huge, "more than the 65,536 allowed")):
        assert sweep.main([str(path)]) == 2
        assert message in capsys.readouterr().err


def test_example_grid_is_valid():
    from mnist_helpers.paths import project_root

    spec = sweep.load_grid(project_root() / "sweeps" / "example_grid.yaml")
    assert len(sweep.combinations(spec["grid"])) == 4
    assert spec["fixed"]["profile"] == "smoke"
    sweep.check_parameters(spec, project_root() / "notebooks" / sweep.NOTEBOOK)


def test_each_run_gets_all_its_parameters_and_records_them(tmp_path, fake):
    grid = write(tmp_path, "name: t\nfixed: {profile: smoke}\ngrid:\n  architecture: [mlp, cnn]\n")
    table = sweep.run_sweep(grid)
    assert table["status"].tolist() == ["done", "done"]
    assert [call["architecture"] for call in fake.calls] == ["mlp", "cnn"]
    for call, name in zip(fake.calls, table["run_name"], strict=True):
        assert call["profile"] == "smoke" and call["run_name"] == name
        recorded = json.loads((tmp_path / "runs" / name / sweep.PARAMS_FILE).read_text())
        assert recorded == {"profile": "smoke", "architecture": call["architecture"]}


def test_rerun_skips_only_runs_made_with_the_same_parameters(tmp_path, fake):
    grid = write(tmp_path, "name: t\nfixed: {profile: smoke, epochs: 2}\ngrid:\n  seed: [1]\n")
    first = sweep.run_sweep(grid)
    again = sweep.run_sweep(grid)
    assert again["status"].tolist() == ["skipped"] and len(fake.calls) == 1
    assert again.loc[0, "test_accuracy"] == first.loc[0, "test_accuracy"]

    # `fixed` changed: a new run, never the old run's metrics
    grid.write_text("name: t\nfixed: {profile: smoke, epochs: 3}\ngrid:\n  seed: [1]\n")
    changed = sweep.run_sweep(grid)
    assert changed["status"].tolist() == ["done"] and len(fake.calls) == 2
    assert fake.calls[-1]["epochs"] == 3 and changed.loc[0, "epochs_run"] == 3
    assert changed.loc[0, "run_name"] != first.loc[0, "run_name"]

    # a folder whose record is missing or differs (an older sweep, a copied folder) re-runs
    run = tmp_path / "runs" / changed.loc[0, "run_name"]
    (run / sweep.PARAMS_FILE).write_text(json.dumps({"profile": "smoke", "epochs": 2, "seed": 1}))
    assert sweep.run_sweep(grid)["status"].tolist() == ["done"] and len(fake.calls) == 3
    (run / sweep.PARAMS_FILE).unlink()
    assert sweep.run_sweep(grid)["status"].tolist() == ["done"] and len(fake.calls) == 4
    assert sweep.run_sweep(grid)["status"].tolist() == ["skipped"] and len(fake.calls) == 4


def test_any_failure_of_one_combination_is_recorded_and_the_others_run(tmp_path, fake):
    """A dead kernel is not a cell error, and must not lose the table either."""
    fake.fail = lambda p: RuntimeError("Kernel died") if p["architecture"] == "mlp" else None
    grid = write(tmp_path, "name: t\ngrid:\n  architecture: [mlp, cnn]\n")
    table = sweep.run_sweep(grid)
    assert table["status"].tolist() == ["failed", "done"]
    assert table.loc[0, "error"] == "RuntimeError: Kernel died"
    assert pd.isna(table.loc[0, "test_accuracy"]) and table.loc[1, "test_accuracy"] > 0
    saved = pd.read_csv(tmp_path / "runs" / "sweeps" / "t.csv")
    assert saved["status"].tolist() == ["failed", "done"]
    # a failed run has no record, so the next sweep tries it again
    assert not (tmp_path / "runs" / table.loc[0, "run_name"] / sweep.PARAMS_FILE).exists()
    fake.fail = None
    assert sweep.run_sweep(grid)["status"].tolist() == ["done", "skipped"]


def test_an_interrupted_sweep_keeps_the_rows_that_finished(tmp_path, fake, monkeypatch):
    """Ctrl-C while the second result comes in: the first row is saved, nothing is left
    running on the cluster."""
    stored = []
    keep = sweep.store_run

    def store_then_interrupt(run, result, parameters):
        if stored:
            raise KeyboardInterrupt
        stored.append(run.name)
        keep(run, result, parameters)

    monkeypatch.setattr(sweep, "store_run", store_then_interrupt)
    grid = write(tmp_path, "name: t\ngrid:\n  seed: [1, 2, 3]\n")
    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(grid)
    saved = pd.read_csv(tmp_path / "runs" / "sweeps" / "t.csv")
    assert saved["run_name"].tolist() == stored and saved["status"].tolist() == ["done"]
    assert saved.loc[0, "test_accuracy"] > 0
    # the run that was coming in left no half-written folder
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted([*stored, "sweeps"])


def test_runs_come_back_whole_and_replace_an_older_folder(tmp_path, fake):
    """Workers have no shared disk: every file of a run comes back, and the run's folder on
    this machine holds that run's files only."""
    grid = write(tmp_path, "name: t\nfixed: {seed: 1}\ngrid:\n  epochs: [2]\n")
    name = sweep.run_name_for("t", {"epochs": 2}, {"seed": 1})
    run = tmp_path / "runs" / name
    run.mkdir(parents=True)
    (run / "stale.txt").write_text("from an older run")
    table = sweep.run_sweep(grid)
    assert table.loc[0, "worker"] and table.loc[0, "status"] == "done"
    assert sorted(p.name for p in run.iterdir()) == [
        sweep.NOTEBOOK,
        "metrics.json",
        sweep.PARAMS_FILE,
    ]
    assert [p.name for p in run.parent.iterdir() if ".partial" in p.name] == []


def test_a_failed_run_keeps_its_notebook_and_no_record(tmp_path):
    """What comes back from a failed run replaces the folder: no old metrics.json stays beside
    the failed notebook to be mistaken for its result."""
    run = tmp_path / "r"
    done = {"status": "done", "files": {"metrics.json": b"{}", "figures/a.png": b"png"}}
    sweep.store_run(run, done, {"seed": 1})
    assert (run / sweep.PARAMS_FILE).is_file() and (run / "figures" / "a.png").read_bytes()
    failed = {"status": "failed", "files": {sweep.NOTEBOOK: b"{}"}}
    sweep.store_run(run, failed, {"seed": 1})
    assert [p.name for p in run.iterdir()] == [sweep.NOTEBOOK]


@pytest.mark.parametrize(
    "bad",
    ["../escaped.txt", "figures/../../escaped.txt", "/tmp/escaped.txt", "", ".", "a//b", "a\\b"],
)
def test_a_result_naming_a_file_outside_its_run_folder_writes_nothing(tmp_path, bad):
    """A worker's result only names files inside the run's folder, as plain relative paths."""
    run = tmp_path / "runs" / "r"
    result = {"status": "done", "files": {"metrics.json": b"{}", bad: b"x"}}
    with pytest.raises(ValueError, match=re.escape(f"{bad!r}")) as error:
        sweep.store_run(run, result, {"seed": 1})
    assert "inside the run's folder" in str(error.value)
    assert [p.name for p in tmp_path.rglob("*")] == []  # nothing written, anywhere
    assert not Path("/tmp/escaped.txt").exists()


def test_a_sweep_refuses_a_result_with_a_path_outside_and_goes_on(tmp_path, fake, monkeypatch):
    """A worker (another version of the course, say) sends `../`: that row fails, the
    others are stored, and nothing lands outside the run folders."""
    real = sweep.run_combination

    def escaping(notebook_text, notebook_name, run_name, parameters):
        result = real(notebook_text, notebook_name, run_name, parameters)
        if parameters["seed"] == 1:
            result["files"]["../../escaped.txt"] = b"x"
        return result

    monkeypatch.setattr(sweep, "run_combination", escaping)
    grid = write(tmp_path, "name: t\ngrid:\n  seed: [1, 2]\n")
    table = sweep.run_sweep(grid)
    assert table["status"].tolist() == ["failed", "done"]
    assert "'../../escaped.txt'" in table.loc[0, "error"]
    assert "nothing of this run was stored" in table.loc[0, "error"]
    assert not (tmp_path / "runs" / table.loc[0, "run_name"]).exists()
    assert (tmp_path / "runs" / table.loc[1, "run_name"] / "metrics.json").is_file()
    assert not list(tmp_path.rglob("escaped.txt"))


def test_a_task_that_fails_on_the_worker_is_a_failed_row(tmp_path, fake, monkeypatch):
    """Not the notebook failing: the task itself (a worker without the course, say)."""

    def no_course(*args):
        raise ModuleNotFoundError("No module named 'mnist_helpers'")

    monkeypatch.setattr(sweep, "run_combination", no_course)
    grid = write(tmp_path, "name: t\ngrid:\n  seed: [1]\n")
    table = sweep.run_sweep(grid)
    assert table["status"].tolist() == ["failed"]
    assert "No module named 'mnist_helpers'" in table.loc[0, "error"]
    assert "install the course on every worker" in table.loc[0, "error"]


@pytest.mark.parametrize(
    ("cores", "memory_gib", "runs"), [(1, 8, 1), (2, 24, 2), (16, 64, 16), (16, 8, 4), (4, 1, 1)]
)
def test_runs_at_once_one_per_core_as_memory_allows(cores, memory_gib, runs):
    assert sweep.runs_at_once(cores, memory_gib) == runs


def test_runs_at_once_reads_this_machines_cores_and_memory(monkeypatch):
    import psutil

    monkeypatch.setattr(sweep.os, "cpu_count", lambda: 6)
    memory = psutil.virtual_memory()
    for gib, runs in ((64, 6), (8, 4), (1, 1)):
        monkeypatch.setattr(
            psutil, "virtual_memory", lambda gib=gib: memory._replace(total=gib * 2**30)
        )
        assert sweep.runs_at_once() == runs


def test_progress_counts_runs_done_failed_and_running(capsys):
    progress = sweep.Progress(total=3, skipped=1)
    progress.event((0.0, {"run": "a", "name": "w1", "state": "started"}))
    progress.event((0.0, {"run": "b", "name": "w2", "state": "started"}))
    assert progress.counts() == "1/3 done, 0 failed, 2 running"
    progress.event((0.0, {"run": "a", "name": "w1", "state": "started"}))  # w1 died: again
    progress.event((0.0, {"run": "a", "name": "w1", "state": "finished"}))
    progress.finished("a", {"status": "done", "test_accuracy": 0.97})
    progress.finished("b", {"status": "failed", "error": "ValueError: no"})
    progress.bar.close()
    out = capsys.readouterr().out
    assert "[1/3 done, 0 failed, 1 running] a: started on w1" in out
    assert "a: started on w1 (again: its last worker died)" in out
    assert "[2/3 done, 0 failed, 1 running] a: done, test accuracy 97.00%" in out
    assert "[2/3 done, 1 failed, 0 running] b: FAILED: ValueError: no" in out


@pytest.mark.parametrize("how", ["option", "variable", "not dask"])
def test_an_unreachable_scheduler_is_a_clear_error_within_seconds(
    tmp_path, monkeypatch, capsys, how, workspace
):
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    if how == "not dask":  # something else answers there, e.g. a web server

        def answer_garbage():
            with server:
                server.listen()
                connection, _ = server.accept()
                with connection:
                    connection.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n" * 4)

        threading.Thread(target=answer_garbage, daemon=True).start()
    else:  # a port nothing listens on
        server.close()
    monkeypatch.setattr(sweep, "CONNECT_TIMEOUT", 2)
    grid = write(tmp_path, "name: t\ngrid:\n  seed: [1]\n")
    if how != "variable":
        argv = [str(grid), "--scheduler", address]
    else:
        monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)
        argv = [str(grid)]
    start = time.perf_counter()
    assert sweep.main(argv) == 2
    assert time.perf_counter() - start < 10
    err = capsys.readouterr().err
    assert f"no Dask scheduler answers at {address} within 2 s" in err
    assert "dask scheduler" in err and "leave out --scheduler" in err
    assert not (tmp_path / "runs").exists()  # nothing ran, nothing was written


def _listening(process) -> list:
    """The addresses that ``process`` and its children listen on, as ``(ip, port)``."""
    import psutil

    found = []
    for member in [process, *process.children(recursive=True)]:
        try:
            connections = member.net_connections(kind="inet")
        except psutil.NoSuchProcess:  # gone meanwhile
            continue
        found += [c.laddr[:2] for c in connections if c.status == psutil.CONN_LISTEN]
    return found


def test_the_local_cluster_listens_on_this_machine_only():
    """The cluster a sweep starts (scheduler, workers, dashboard) is not reachable from the
    network: its dashboard shows workers, logs and call stacks to anyone, without a login."""
    import psutil

    before = set(_listening(psutil.Process()))  # other tests' servers, if any
    client, cluster = sweep.connect(workers=1)
    try:
        listening = set(_listening(psutil.Process())) - before
        assert cluster.dashboard_link.startswith("http://127.0.0.1:")
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
    finally:
        client.close()
        cluster.close()
    dashboard_port = int(cluster.dashboard_link.split(":")[2].split("/")[0])
    assert dashboard_port in [port for _, port in listening]
    assert {ip for ip, _ in listening} == {"127.0.0.1"}, listening


def test_the_dashboard_is_exposed_only_when_asked(tmp_path, monkeypatch, capsys, workspace):
    asked = []

    def connect(*args):
        asked.append(args)
        raise ConnectionError("no cluster in this test")

    monkeypatch.setattr(sweep, "connect", connect)
    grid = write(tmp_path, "name: t\ngrid:\n  seed: [1]\n")
    argv = [str(grid), "--scheduler", "tcp://10.0.0.5:8786", "--dashboard", "0.0.0.0:8787"]
    assert sweep.main(argv) == 2
    assert "--dashboard is for the cluster a sweep starts" in capsys.readouterr().err
    assert sweep.main([str(grid), "--scheduler", "tcp://10.0.0.5:8786", "--workers", "2"]) == 2
    assert "--workers is for the cluster a sweep starts" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--dashboard must be HOST:PORT"):
        sweep.run_sweep(grid, dashboard="8787")
    assert asked == []
    assert sweep.main([str(grid), "--dashboard", "0.0.0.0:8787"]) == 2
    assert asked == [(None, None, "0.0.0.0:8787")]


def test_a_dashboard_address_of_another_machine_is_a_clear_error(
    tmp_path, monkeypatch, capsys, workspace
):
    import psutil

    ours = {a.address for nic in psutil.net_if_addrs().values() for a in nic}
    # an address kept for documentation (RFC 5737) that this machine does not have
    other = next(ip for ip in ("192.0.2.1", "198.51.100.1", "203.0.113.1") if ip not in ours)
    grid = write(tmp_path, "name: t\ngrid:\n  seed: [1]\n")
    assert sweep.main([str(grid), "--dashboard", f"{other}:8787"]) == 2
    err = capsys.readouterr().err
    assert "cannot start a Dask cluster on this machine" in err
    assert f"--dashboard {other}:8787 must name an address of this machine" in err


@pytest.mark.parametrize("workers", ["0", "-1", "100000"])
def test_workers_beyond_this_machine_are_refused(tmp_path, monkeypatch, capsys, workers, workspace):
    import os

    monkeypatch.setattr(sweep, "connect", lambda *args: pytest.fail("started a cluster"))
    grid = write(tmp_path, "name: t\ngrid:\n  seed: [1]\n")
    assert sweep.main([str(grid), "--workers", workers]) == 2
    err = capsys.readouterr().err
    assert f"--workers must be an integer from 1 to {os.cpu_count()}, got {workers}" in err


def _start(command: list, log: Path, **kwargs):
    """Start ``command`` in a session of its own (so the test can stop all of it)."""
    import subprocess

    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        return subprocess.Popen(
            [str(part) for part in command],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **kwargs,
        )


def _stop(process, signal_number=None) -> list:
    """Stop ``process``, its session and every process it started; return those it had."""
    import os
    import signal

    import psutil

    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        family = []
    try:
        os.killpg(process.pid, signal_number or signal.SIGTERM)
        process.wait(timeout=15)
    except ProcessLookupError:
        pass
    except Exception:  # did not stop in time
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)
    return family


def _kernels(process) -> list:
    """The notebook kernels ``process`` started (its descendants running ipykernel)."""
    import psutil

    found = []
    for child in process.children(recursive=True):
        try:
            if "ipykernel" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:  # gone meanwhile
            pass
    return found


def _gone(process) -> bool:
    """Whether ``process`` has exited (a zombie waiting to be reaped has)."""
    import psutil

    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


#: The accuracy the stand-in notebook reports for each architecture (plus n_train / 10**6):
#: each row of a sweep's table must show the one its own run wrote.
STAND_IN_ACCURACY = {"mlp": 0.90, "cnn": 0.95}
#: The sweep's command line, in a course whose 04 is the stand-in (``-c SUBMIT COURSE ARGS``).
SUBMIT_STAND_IN = (
    "import sys\n"
    "from pathlib import Path\n"
    "from mnist_helpers import sweep\n"
    "sweep.project_root = lambda: Path(sys.argv[1])\n"
    "sys.exit(sweep.main(sys.argv[2:]))\n"
)


def stand_in_course(folder: Path, seconds: float = 3) -> Path:
    """A course whose ``notebooks/04_training.ipynb`` is a stand-in, for a test of the sweep
    itself; returns the course's folder (what ``project_root()`` gives). The stand-in takes the
    example grid's parameters, runs for ``seconds`` (long enough to kill its worker meanwhile),
    and writes what 04's run writes (metrics.json, with an accuracy made of its parameters,
    history.csv, model.keras, the learning curves). Like 04's teaching experiments, its cell
    tagged nbval-skip must be left out: it fails. 04 itself runs in the course run."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "mnist-cnn-course",
        "language": "python",
        "display_name": "Python (MNIST CNN course)",
    }
    parameters = 'profile = "full"\narchitecture = "cnn"\nn_train = None\nrun_name = "default"'
    work = f"""import json
import time

from mnist_helpers.paths import figures_dir, runs_dir

time.sleep({seconds})
run = runs_dir() / run_name
run.mkdir(parents=True, exist_ok=True)
accuracy = {STAND_IN_ACCURACY!r}[architecture] + n_train / 10**6
metrics = {{"val_accuracy": accuracy, "test_accuracy": accuracy, "test_loss": 0.3}}
metrics |= {{"train_seconds": {seconds}, "parameters": 1000, "epochs_run": 2}}
(run / "metrics.json").write_text(json.dumps(metrics))
(run / "history.csv").write_text("epoch,accuracy\\n1,0.5\\n")
(run / "model.keras").write_bytes(b"a stand-in")
figures_dir().mkdir(parents=True, exist_ok=True)
(figures_dir() / "04_learning_curves.png").write_bytes(b"a stand-in")"""
    nb.cells = [
        nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell('raise RuntimeError("ran a cell tagged nbval-skip")'),
        nbformat.v4.new_code_cell(work),
    ]
    nb.cells[1].metadata["tags"] = ["nbval-skip"]
    (folder / "notebooks").mkdir(parents=True)
    nbformat.write(nb, folder / "notebooks" / sweep.NOTEBOOK)
    return folder


@pytest.mark.notebooks
def test_example_sweep_on_two_workers_survives_a_killed_worker(tmp_path, monkeypatch, free_port):
    """The README's example grid on a real cluster on loopback: `dask scheduler` and two
    `dask worker` processes, each in its own folder (no disk shared with the sweep), running
    a stand-in for 04 in real kernels; one worker is killed, with its kernel, while it runs a
    combination. Every combination ends done, exactly once, its own files back in the
    submitter's runs/."""
    import os
    import signal
    import subprocess
    import sys
    import threading

    import psutil
    from distributed import Client

    dask = Path(sys.executable).parent / "dask"
    address = f"tcp://127.0.0.1:{free_port()}"
    grid = project_root() / "sweeps" / "example_grid.yaml"
    stand_in = stand_in_course(tmp_path / "course")
    runs = tmp_path / "runs"
    processes = {}
    lines: list[str] = []
    try:
        processes["scheduler"] = _start(
            [
                dask,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                address.rsplit(":", 1)[1],
                "--no-dashboard",
            ],
            tmp_path / "scheduler.log",
        )
        for name in ("w1", "w2"):
            folder = tmp_path / name
            (folder / "tmp").mkdir(parents=True)
            processes[name] = _start(
                [
                    dask,
                    "worker",
                    address,
                    "--name",
                    name,
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--local-directory",
                    folder,
                ],
                folder / "worker.log",
                cwd=folder,
                env={**os.environ, "TMPDIR": str(folder / "tmp"), "MNIST_RUNS_DIR": str(folder)},
            )
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)

        submitter = subprocess.Popen(
            [sys.executable, "-c", SUBMIT_STAND_IN, stand_in, grid, "--scheduler", address],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "MNIST_RUNS_DIR": str(runs), "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
        processes["sweep"] = submitter
        watchdog = threading.Timer(300, submitter.kill)  # bounded, whatever happens
        watchdog.daemon = True
        watchdog.start()
        killed_run, starts_on_w1 = None, 0
        for line in submitter.stdout:
            lines.append(line)
            found = re.search(r"\] (\S+): started on w1$", line.rstrip())
            if found and killed_run is None:
                starts_on_w1 += 1
                if starts_on_w1 == 2:  # w1 finished a run and is busy with its next one
                    killed_run = found.group(1)
                    worker = psutil.Process(processes["w1"].pid)
                    deadline = time.monotonic() + 30
                    while time.monotonic() < deadline and not _kernels(worker):
                        time.sleep(0.2)
                    kernels = _kernels(worker)
                    assert kernels, "w1's run never started its kernel"
                    _stop(processes.pop("w1"), signal.SIGKILL)
                    # its kernel notices and stops by itself: no orphan keeps the cores busy
                    deadline = time.monotonic() + 15
                    while time.monotonic() < deadline and not all(map(_gone, kernels)):
                        time.sleep(0.2)
                    alive = [kernel for kernel in kernels if not _gone(kernel)]
                    for kernel in alive:
                        kernel.kill()
                    assert not alive, "the killed worker's kernel kept running"
        assert submitter.wait(timeout=60) == 0, "".join(lines)
    finally:
        for process in processes.values():
            for leftover in _stop(process):
                if not _gone(leftover):
                    leftover.kill()
    output = "".join(lines)
    assert killed_run, f"w1 never started a second run:\n{output}"
    assert re.search(rf"{killed_run}: started on w2 \(again: its last worker died\)", output)

    table = pd.read_csv(runs / "sweeps" / "example.csv")
    spec = sweep.load_grid(grid)
    expected = [
        sweep.run_name_for("example", settings, spec["fixed"])
        for settings in sweep.combinations(spec["grid"])
    ]
    assert table["run_name"].tolist() == expected and (table["status"] == "done").all()
    assert table.set_index("run_name").loc[killed_run, "worker"] == "w2"
    assert set(table["worker"]) <= {"w1", "w2"}
    for settings, name in zip(sweep.combinations(spec["grid"]), expected, strict=True):
        assert len(re.findall(rf"\] {name}: done", output)) == 1, output  # exactly once
        row = table.set_index("run_name").loc[name]
        accuracy = STAND_IN_ACCURACY[settings["architecture"]] + settings["n_train"] / 10**6
        assert row["test_accuracy"] == pytest.approx(accuracy), name  # its own run's metrics
        run = runs / name
        recorded = json.loads((run / sweep.PARAMS_FILE).read_text())
        assert recorded == {**spec["fixed"], **settings}
        for file in ("metrics.json", "history.csv", "model.keras", sweep.NOTEBOOK):
            assert (run / file).is_file(), f"{name}: no {file}"
        assert (run / "figures" / "04_learning_curves.png").is_file()
    assert sorted(p.name for p in runs.iterdir()) == sorted([*expected, "sweeps"])
    assert (runs / "sweeps" / "example.png").is_file()
    # the surviving worker kept nothing: each run's temporary folder went with it
    assert list((tmp_path / "w2" / "tmp").glob("mnist-sweep-*")) == []
    assert not list((tmp_path / "w2").glob("example_*"))

    # a second sweep finds everything done, and asks no worker for anything
    monkeypatch.setenv("MNIST_RUNS_DIR", str(runs))
    monkeypatch.setattr(sweep, "project_root", lambda: stand_in)
    again = sweep.run_sweep(grid, scheduler="tcp://127.0.0.1:9")  # never contacted
    assert (again["status"] == "skipped").all()
    assert again["test_accuracy"].tolist() == table["test_accuracy"].tolist()


@pytest.mark.notebooks
@pytest.mark.real_data
def test_failed_combination_does_not_stop_the_others_and_reruns_skip_done(
    tmp_path, monkeypatch, course_run, workspace
):
    """04 itself in a sweep on this machine's own cluster: a bad value fails its row only,
    the good one learns, and gives the numbers 04 gives outside Dask with the same parameters
    (the course run's 04: the smoke profile, the default seed)."""
    grid = write(tmp_path, "name: t\nfixed: {profile: smoke}\ngrid:\n  epochs: [ten, 2]\n")
    assert sweep.main([str(grid)]) == 1  # one combination failed
    table = pd.read_csv(tmp_path / "runs" / "sweeps" / "t.csv")
    assert table["status"].tolist() == ["failed", "done"]
    assert "epochs must be a positive integer" in table.loc[0, "error"]
    # the run learned: an untrained or broken model scores about 10 %
    assert table.loc[1, "test_accuracy"] >= SWEEP_FLOOR
    assert table.loc[1, "val_accuracy"] >= SWEEP_FLOOR
    run = tmp_path / "runs" / sweep.run_name_for("t", {"epochs": 2}, {"profile": "smoke"})
    assert run.name == table.loc[1, "run_name"] and run.name.startswith("t_epochs-2_")
    assert (run / "04_training.ipynb").is_file()
    # the run, not the lesson: 04's extra training runs (sections 9 and 10) were left out
    executed = nbformat.read(run / "04_training.ipynb", as_version=4)
    assert not any("nbval-skip" in cell.metadata.get("tags", []) for cell in executed.cells)
    assert not (run / "figures" / "04_ablation.png").exists()
    # each run's figures stay in its folder, never in the committed figures/
    assert (run / "figures" / "04_learning_curves.png").is_file()
    assert not (tmp_path / "figures").exists()
    assert (tmp_path / "runs" / "sweeps" / "t.png").is_file()

    again = sweep.run_sweep(grid)
    assert again["status"].tolist() == ["failed", "skipped"]
    assert again.loc[1, "test_accuracy"] == table.loc[1, "test_accuracy"]

    # on Dask or not, the same seeds give the same numbers
    course_run.check()
    alone = course_run.runs / "smoke"
    assert (run / "history.csv").read_bytes() == (alone / "history.csv").read_bytes()
    ours = json.loads((run / "metrics.json").read_text())
    theirs = json.loads((alone / "metrics.json").read_text())
    for metrics in (ours, theirs):
        metrics.pop("train_seconds")
        metrics["config"].pop("run_name")
    assert ours == theirs
