"""mnist_helpers.env: the facts and problems check_env() shows (imports TensorFlow: slow-ish)."""

from __future__ import annotations

import pytest

from mnist_helpers.env import check_env, display_path, environment_report

DATA_PROBLEM = "MNIST is not downloaded yet: run `make data`"


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    folder = tmp_path / "empty-cache"
    folder.mkdir()
    monkeypatch.setenv("MNIST_CACHE_DIR", str(folder))
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    return folder


def test_report_has_the_facts_a_learner_checks_first(empty_cache):
    facts, problems = environment_report()
    for key in ("python", "tensorflow", "keras", "numpy", "keras backend", "data cache"):
        assert facts.get(key), f"no {key!r} in {sorted(facts)}"
    assert facts["keras backend"] == "tensorflow"
    assert facts["data cache"] == f"{empty_cache} (empty)"
    assert all(isinstance(p, str) and p for p in problems)


def test_empty_cache_is_a_problem_that_says_make_data(empty_cache):
    _, problems = environment_report()
    assert sum(DATA_PROBLEM in p for p in problems) == 1, problems


def test_filled_cache_or_data_dir_is_not_a_problem(empty_cache, tmp_path, monkeypatch):
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (empty_cache / name).write_bytes(b"")
    _, problems = environment_report()
    assert any(DATA_PROBLEM in p for p in problems), "two of four files is not a ready cache"

    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (empty_cache / name).write_bytes(b"")
    facts, problems = environment_report()
    assert facts["data cache"] == f"{empty_cache} (ready)"
    assert not any(DATA_PROBLEM in p for p in problems)

    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "nothing here"))
    monkeypatch.setenv("MNIST_DATA_DIR", str(tmp_path / "classroom share"))
    facts, problems = environment_report()
    assert facts["MNIST_DATA_DIR"] == str(tmp_path / "classroom share")
    assert not any(DATA_PROBLEM in p for p in problems)


def test_other_keras_backend_is_a_problem_naming_the_variable(empty_cache, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    facts, problems = environment_report()
    assert facts["keras backend"] == "jax"
    [problem] = [p for p in problems if "KERAS_BACKEND" in p]
    assert "'jax'" in problem and "export KERAS_BACKEND=tensorflow" in problem


def test_check_env_prints_facts_and_problems_and_returns_false(empty_cache, capsys):
    assert check_env() is False
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("python ") for line in lines)
    assert any(line.startswith("data cache ") and str(empty_cache) in line for line in lines)
    assert f"PROBLEM: {DATA_PROBLEM} (or `python -m mnist_helpers.data`)." in lines
    assert "environment OK" not in lines


def test_check_env_prints_one_line_when_all_is_well_and_the_table_on_request(monkeypatch, capsys):
    from mnist_helpers import env

    facts = {
        "python": "3.11.7",
        "tensorflow": "2.21.0",
        "keras": "3.15.1",
        "devices": "2 CPU cores, no GPU",
        "data cache": "~/.cache/x (ready)",
    }
    monkeypatch.setattr(env, "environment_report", lambda: (dict(facts), []))
    assert env.check_env() is True
    assert capsys.readouterr().out.splitlines() == [
        "environment OK: Python 3.11.7, TensorFlow 2.21.0, Keras 3.15.1; "
        "devices: 2 CPU cores, no GPU"
    ]
    assert env.check_env(verbose=True) is True
    lines = capsys.readouterr().out.splitlines()
    assert "data cache  ~/.cache/x (ready)" in lines and lines[-1] == "environment OK"


def test_display_path_hides_the_home_and_course_folders(monkeypatch, tmp_path):
    from mnist_helpers.paths import project_root

    monkeypatch.setenv("HOME", str(tmp_path))
    assert display_path(project_root() / ".venv" / "bin" / "python") == ".venv/bin/python"
    assert display_path(tmp_path / ".cache" / "mnist") == "~/.cache/mnist"
    assert display_path("/opt/elsewhere/python") == "/opt/elsewhere/python"
