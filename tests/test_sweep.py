"""Tests of mnist_helpers.sweep: grid files, run names, a failing combination, resuming."""

from __future__ import annotations

import json
import re

import nbformat
import pandas as pd
import pytest

from mnist_helpers import course, sweep

#: Every row of a smoke sweep must reach this test accuracy (the example grid's lowest row,
#: the MLP on 2,000 images, gets about 87 %; chance is 10 %).
SWEEP_FLOOR = 0.85
#: What 03 accepts as a run_name.
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

    def __call__(self, notebook, output, parameters, figures=None, leave_out=()):
        assert leave_out == sweep.LEFT_OUT  # a sweep never runs 03's teaching experiments
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


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Runs go to tmp_path/runs; the notebook is never really executed."""
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_FIGURES_DIR", str(tmp_path / "figures"))
    notebook = FakeNotebook()
    monkeypatch.setattr(course, "execute_notebook", notebook)
    return notebook


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
    with pytest.raises(ValueError, match=r"not parameter\(s\) of 03_training\.ipynb") as error:
        sweep.run_sweep(grid)
    assert "allowed: architecture, batch_size, epochs, learning_rate, n_train" in str(error.value)
    assert "run_name" not in str(error.value).split("allowed:")[1]  # the sweep sets it
    assert fake.calls == []
    assert not (tmp_path / "runs").exists()
    assert sweep.main([str(grid)]) == 2
    assert "not parameter(s) of 03_training.ipynb" in capsys.readouterr().err


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


def test_an_interrupted_sweep_keeps_the_rows_that_finished(tmp_path, fake):
    fake.fail = lambda p: KeyboardInterrupt() if p["seed"] == 2 else None
    grid = write(tmp_path, "name: t\ngrid:\n  seed: [1, 2, 3]\n")
    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(grid)
    saved = pd.read_csv(tmp_path / "runs" / "sweeps" / "t.csv")
    assert saved["seed"].tolist() == [1] and saved["status"].tolist() == ["done"]
    assert saved.loc[0, "test_accuracy"] > 0


@pytest.mark.notebooks
@pytest.mark.real_data
def test_example_sweep_every_row_learns(tmp_path, monkeypatch):
    """The README's example sweep, for real (about 2 minutes): every row above the floor."""
    from mnist_helpers.paths import project_root

    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    grid = project_root() / "sweeps" / "example_grid.yaml"
    table = sweep.run_sweep(grid)
    assert (table["status"] == "done").all()
    assert (table["test_accuracy"] >= SWEEP_FLOOR).all(), table
    spec = sweep.load_grid(grid)
    for settings, name in zip(sweep.combinations(spec["grid"]), table["run_name"], strict=True):
        assert name == sweep.run_name_for("example", settings, spec["fixed"])
        assert re.fullmatch(r"example_architecture-(mlp|cnn)_n_train-(2|6)000_[0-9a-f]{6}", name)
        recorded = json.loads((tmp_path / "runs" / name / sweep.PARAMS_FILE).read_text())
        assert recorded == {**spec["fixed"], **settings}


@pytest.mark.notebooks
@pytest.mark.real_data
def test_failed_combination_does_not_stop_the_others_and_reruns_skip_done(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_FIGURES_DIR", str(tmp_path / "figures"))
    grid = write(
        tmp_path,
        "name: t\nfixed: {profile: smoke, architecture: mlp}\ngrid:\n  epochs: [ten, 2]\n",
    )
    assert sweep.main([str(grid)]) == 1  # one combination failed
    table = pd.read_csv(tmp_path / "runs" / "sweeps" / "t.csv")
    assert table["status"].tolist() == ["failed", "done"]
    assert "epochs must be an integer" in table.loc[0, "error"]
    # the run learned: an untrained or broken model scores about 10 %
    assert table.loc[1, "test_accuracy"] >= SWEEP_FLOOR
    assert table.loc[1, "val_accuracy"] >= SWEEP_FLOOR
    run = (
        tmp_path
        / "runs"
        / sweep.run_name_for("t", {"epochs": 2}, {"profile": "smoke", "architecture": "mlp"})
    )
    assert run.name == table.loc[1, "run_name"] and run.name.startswith("t_epochs-2_")
    assert (run / "03_training.ipynb").is_file()
    # the run, not the lesson: 03's extra training runs (sections 9 and 10) were left out
    executed = nbformat.read(run / "03_training.ipynb", as_version=4)
    assert not any("nbval-skip" in cell.metadata.get("tags", []) for cell in executed.cells)
    assert not (run / "figures" / "03_ablation.png").exists()
    # each run's figures stay in its folder, never in the committed figures/
    assert (run / "figures" / "03_learning_curves.png").is_file()
    assert not (tmp_path / "figures").exists()
    assert (tmp_path / "runs" / "sweeps" / "t.png").is_file()

    again = sweep.run_sweep(grid)
    assert again["status"].tolist() == ["failed", "skipped"]
    assert again.loc[1, "test_accuracy"] == table.loc[1, "test_accuracy"]
