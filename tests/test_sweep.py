"""Tests of mnist_helpers.sweep: grid files, run names, a failing combination, resuming."""

from __future__ import annotations

import pandas as pd
import pytest

from mnist_helpers import sweep

#: Every row of a smoke sweep must reach this test accuracy (the example grid's lowest row,
#: the MLP on 2,000 images, gets about 87 %; chance is 10 %).
SWEEP_FLOOR = 0.85


def write(tmp_path, text: str):
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return path


def test_combinations_cover_the_grid_in_order():
    combos = sweep.combinations({"a": [1, 2], "b": ["x", "y"]})
    assert combos == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
    ]


def test_run_names_are_readable_and_valid():
    assert sweep.run_name_for("lr", {"learning_rate": 0.001, "seed": 1}) == (
        "lr_learning_rate-0.001_seed-1"
    )
    assert sweep.run_name_for("s", {"model": "keras example!"}) == "s_model-kerasexample"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- 1\n- 2\n", "holds a mapping"),
        ("name: x\ngrid: {seed: [1]}\nfoo: 1\n", r"unknown key\(s\) \['foo'\]"),
        ("name: x\ngrid: {seed: 1}\n", r"grid entry 'seed' must be a non-empty list"),
        ("name: x\ngrid: {}\n", "non-empty mapping"),
        ("name: x\nfixed: {run_name: a}\ngrid: {seed: [1]}\n", "run_name is set by the sweep"),
        ("name: a/b\ngrid: {seed: [1]}\n", "name must be letters"),
    ],
)
def test_bad_grid_files_say_what_is_wrong(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        sweep.load_grid(write(tmp_path, text))


def test_example_grid_is_valid():
    from mnist_helpers.paths import project_root

    spec = sweep.load_grid(project_root() / "sweeps" / "example_grid.yaml")
    assert len(sweep.combinations(spec["grid"])) == 4
    assert spec["fixed"]["profile"] == "smoke"


@pytest.mark.notebooks
@pytest.mark.real_data
def test_example_sweep_every_row_learns(tmp_path, monkeypatch):
    """The README's example sweep, for real (about 2 minutes): every row above the floor."""
    from mnist_helpers.paths import project_root

    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    table = sweep.run_sweep(project_root() / "sweeps" / "example_grid.yaml")
    assert (table["status"] == "done").all()
    assert (table["test_accuracy"] >= SWEEP_FLOOR).all(), table


@pytest.mark.notebooks
@pytest.mark.real_data
def test_failed_combination_does_not_stop_the_others_and_reruns_skip_done(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_FIGURES_DIR", str(tmp_path / "figures"))
    grid = write(
        tmp_path,
        "name: t\nfixed: {profile: smoke, model: mlp}\ngrid:\n  epochs: [ten, 2]\n",
    )
    assert sweep.main([str(grid)]) == 1  # one combination failed
    table = pd.read_csv(tmp_path / "runs" / "sweeps" / "t.csv")
    assert table["status"].tolist() == ["failed", "done"]
    assert "epochs must be an integer" in table.loc[0, "error"]
    # the run learned: an untrained or broken model scores about 10 %
    assert table.loc[1, "test_accuracy"] >= SWEEP_FLOOR
    assert table.loc[1, "val_accuracy"] >= SWEEP_FLOOR
    assert (tmp_path / "runs" / "t_epochs-2" / "03_training.ipynb").is_file()
    # each run's figures stay in its folder, never in the committed figures/
    assert (tmp_path / "runs" / "t_epochs-2" / "figures" / "03_learning_curves.png").is_file()
    assert not (tmp_path / "figures").exists()
    assert (tmp_path / "runs" / "sweeps" / "t.png").is_file()

    again = sweep.run_sweep(grid)
    assert again["status"].tolist() == ["failed", "skipped"]
    assert again.loc[1, "test_accuracy"] == table.loc[1, "test_accuracy"]
