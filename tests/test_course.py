"""The headless runner: parameters, in-place runs, careless input, its closing line."""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest

from mnist_helpers import course


def test_executed_notebooks_keep_no_local_paths(tmp_path):
    path = make_tiny(tmp_path)
    nb = nbformat.read(path, as_version=4)
    nb.metadata["papermill"] = {"duration": 5.0, "input_path": "/home/someone/x.ipynb"}
    nbformat.write(nb, path)
    course._drop_local_paths(path)
    record = nbformat.read(path, as_version=4).metadata["papermill"]
    assert record == {"duration": 5.0}  # the run time stays: the guide's tables need it
    for committed in course.notebook_paths():
        record = nbformat.read(committed, as_version=4).metadata.get("papermill", {})
        assert "input_path" not in record, f"{committed.name} records a local path"


# ----------------------------------------------------------------------------- parameters


def test_a_number_for_a_text_parameter_stays_text(tmp_path):
    """`make run RUN_NAME=2024`: 04 takes only a text run_name, so 2024 must arrive as '2024'."""
    pairs = [
        ("run_name", "2024"),
        ("epochs", "3"),
        ("learning_rate", "1e-3"),
        ("architecture", "mlp"),
    ]
    assert course.build_parameters(pairs) == {
        "run_name": "2024",
        "epochs": 3,
        "learning_rate": 0.001,
        "architecture": "mlp",
    }
    params = tmp_path / "params.yaml"
    params.write_text("run_name: 2024\nseed: 7\nn_train: null\n")
    assert course.build_parameters([], params) == {"run_name": "2024", "seed": 7, "n_train": None}
    # the command line wins over the file, and keeps what was typed
    assert course.build_parameters([("run_name", "007")], params)["run_name"] == "007"


@pytest.mark.parametrize("path", course.notebook_paths(), ids=lambda p: p.name[:2])
def test_every_line_of_a_parameters_cell_is_a_parameter_papermill_can_read(path):
    """papermill's parser drops a line whose comment it cannot read (one with parentheses or
    ">=", for instance): the notebook would then silently ignore ``make run SEED=7``."""
    cells = [
        c
        for c in nbformat.read(path, as_version=4).cells
        if "parameters" in c.metadata.get("tags", [])
    ]
    if not cells:
        pytest.skip(f"{path.name} has no parameters cell")
    names = [line.split("=")[0].strip() for line in cells[0].source.splitlines() if line.strip()]
    assert list(course.notebook_parameters(path)) == names


def test_text_parameters_are_those_with_a_text_default():
    assert {"run_name", "architecture", "profile"} <= course.text_parameters()
    assert not {"epochs", "seed", "learning_rate", "n_train", "tensorboard"} & (
        course.text_parameters()
    )
    assert course.is_text_default('"full"') and not course.is_text_default("np.pi")


def test_build_parameters_names_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['epochz'\].*'epochs'"):
        course.build_parameters([("epochz", "3")])
    params = tmp_path / "params.yaml"
    params.write_text("- epochs\n")
    with pytest.raises(ValueError, match="must hold a mapping of parameter: value"):
        course.build_parameters([], params)
    # a run name that would leave runs/ is refused before any notebook runs
    for bad in ("..", ".", "../up", "a/b"):
        with pytest.raises(ValueError, match="run_name must be a plain folder name"):
            course.build_parameters([("run_name", bad)])
    params.write_text("run_name: ..\n")
    with pytest.raises(ValueError, match=r"plain folder name.*got '\.\.'"):
        course.build_parameters([], params)


def fake_papermill(calls: list[dict], fail: BaseException | None = None):
    """A stand-in for papermill.execute_notebook: records the call, writes the output as a
    real run would (outputs and papermill's metadata), then raises ``fail`` if given."""

    def execute(input_path, output_path, parameters=None, cwd=None, **kwargs):
        if isinstance(input_path, nbformat.NotebookNode):
            nb = input_path
            input_path = f"<{len(nb.cells)} cells>"
        else:
            nb = nbformat.read(input_path, as_version=4)
        calls.append({"input": input_path, "output": output_path, "cwd": cwd, **parameters})
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        code[-1].outputs = [nbformat.v4.new_output("stream", text="executed\n")]
        nb.metadata["papermill"] = {"duration": 1.0, "input_path": input_path}
        nbformat.write(nb, output_path)
        if fail is not None:
            raise fail

    return execute


def test_run_name_2024_reaches_the_notebook_as_text(tmp_path, monkeypatch, workspace):
    import papermill

    calls: list[dict] = []
    monkeypatch.setattr(papermill, "execute_notebook", fake_papermill(calls))
    assert course.main(["run", "--only", "04", "-p", "run_name", "2024", "-p", "seed", "7"]) == 0
    assert len(calls) == 1 and calls[0]["input"].endswith("04_training.ipynb")
    assert calls[0]["run_name"] == "2024" and calls[0]["seed"] == 7


# ----------------------------------------------------------------------------- in place


def make_tiny(folder):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    path = folder / "01_tiny.ipynb"
    nbformat.write(nb, path)
    return path


def test_notebooks_in_place_leave_the_tracked_file_as_it_was_when_a_run_fails(
    tmp_path, monkeypatch
):
    """A kernel dying half-way (or Ctrl-C) must not leave a half-executed tracked notebook."""
    import papermill

    path = make_tiny(tmp_path)
    before = path.read_bytes()
    for failure in (RuntimeError("Kernel died"), KeyboardInterrupt()):
        calls: list[dict] = []
        monkeypatch.setattr(papermill, "execute_notebook", fake_papermill(calls, failure))
        with pytest.raises(type(failure)):
            course.execute_notebooks([path], in_place=True)
        assert len(calls) == 1  # it did run, and wrote a half-executed output somewhere
        assert path.read_bytes() == before
        assert [p.name for p in tmp_path.iterdir()] == ["01_tiny.ipynb"]  # no temporary file


def test_notebooks_in_place_replace_the_tracked_file_once_finished(tmp_path, monkeypatch):
    import papermill

    path = make_tiny(tmp_path)
    calls: list[dict] = []
    monkeypatch.setattr(papermill, "execute_notebook", fake_papermill(calls))
    assert course.execute_notebooks([path], in_place=True) == [path]
    # it ran the tracked notebook, in its own folder (relative paths work), into another file
    assert calls[0]["input"] == str(path) and calls[0]["cwd"] == str(tmp_path)
    assert calls[0]["output"] != str(path)
    executed = nbformat.read(path, as_version=4)
    assert executed.cells[-1].outputs[0]["text"] == "executed\n"
    assert "input_path" not in executed.metadata["papermill"]
    assert [p.name for p in tmp_path.iterdir()] == ["01_tiny.ipynb"]


def test_committed_outputs_come_from_the_full_profile_and_keep_the_class_default(
    tmp_path, monkeypatch
):
    """make notebooks runs 08 at the full profile, but the committed notebook's Run All
    must stay class-sized: papermill's injected cell is not kept."""
    import papermill

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell('profile = "smoke"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(profile)"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.metadata["kernelspec"]["language"] = "python"
    path = tmp_path / "08_going_further.ipynb"
    nbformat.write(nb, path)
    calls: list[dict] = []

    def execute(input_path, output_path, parameters=None, **kwargs):
        calls.append(dict(parameters))
        ran = nbformat.read(input_path, as_version=4)
        injected = nbformat.v4.new_code_cell(
            'profile = "full"', metadata={"tags": ["injected-parameters"]}
        )
        ran.cells.insert(1, injected)
        ran.cells[-1].outputs = [nbformat.v4.new_output("stream", text="full\n")]
        ran.metadata["papermill"] = {"duration": 1.0, "parameters": dict(parameters)}
        nbformat.write(ran, output_path)

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    course.execute_notebooks([path], in_place=True)
    assert calls == [{"profile": "full"}]
    committed = nbformat.read(path, as_version=4)
    assert [c.source for c in committed.cells] == ['profile = "smoke"', "print(profile)"]
    assert committed.cells[-1].outputs[0]["text"] == "full\n"  # the outputs say "full"
    assert committed.metadata["papermill"]["parameters"] == {"profile": "full"}


def test_a_quick_profile_trains_runs_smoke_and_the_later_notebooks_read_it(monkeypatch, workspace):
    """make run PROFILE=smoke must not replace runs/default, and 05 must evaluate that run."""
    import papermill

    calls: list[dict] = []
    monkeypatch.setattr(papermill, "execute_notebook", fake_papermill(calls))
    assert course.main(["run", "--only", "04", "05", "-p", "profile", "smoke"]) == 0
    assert [(Path(c["input"]).name, c.get("run_name")) for c in calls] == [
        ("04_training.ipynb", "smoke"),
        ("05_evaluation.ipynb", "smoke"),
    ]
    calls.clear()
    assert course.main(["run", "--only", "04", "-p", "profile", "full"]) == 0
    assert "run_name" not in calls[0]  # 04's own default: runs/default


def test_cells_with_a_left_out_tag_are_neither_run_nor_in_the_output(tmp_path, monkeypatch):
    import papermill

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"x = {i}") for i in range(3)]
    nb.cells[1].metadata["tags"] = ["nbval-skip", "other"]
    nbformat.write(nb, tmp_path / "04_t.ipynb")
    calls: list[dict] = []
    monkeypatch.setattr(papermill, "execute_notebook", fake_papermill(calls))
    out = course.execute_notebook(
        tmp_path / "04_t.ipynb", tmp_path / "out.ipynb", leave_out=("nbval-skip",)
    )
    assert calls[0]["input"] == "<2 cells>"
    assert [c.source for c in nbformat.read(out, as_version=4).cells] == ["x = 0", "x = 2"]
    assert len(nbformat.read(tmp_path / "04_t.ipynb", as_version=4).cells) == 3  # untouched


@pytest.mark.notebooks
def test_env_and_figures_reach_the_kernel_only(tmp_path, monkeypatch):
    """A sweep's worker runs several notebooks at once: each kernel gets its own folders, and
    the calling process's environment is never changed (a real kernel, a few seconds)."""
    import json
    import os

    monkeypatch.setenv("MNIST_FIGURES_DIR", "mine")
    before = dict(os.environ)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import json, os\n"
            "print(json.dumps({k: os.environ.get(k) for k in "
            "('MNIST_RUNS_DIR', 'MNIST_FIGURES_DIR', 'PATH')}))"
        )
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    path = tmp_path / "env.ipynb"
    nbformat.write(nb, path)
    out = course.execute_notebook(
        path, tmp_path / "out.ipynb", figures=tmp_path / "f", env={"MNIST_RUNS_DIR": "r"}
    )
    seen = json.loads(nbformat.read(out, as_version=4).cells[0].outputs[0]["text"])
    assert seen["MNIST_RUNS_DIR"] == "r" and seen["MNIST_FIGURES_DIR"] == str(tmp_path / "f")
    assert seen["PATH"] == os.environ["PATH"]  # the rest of the environment is inherited
    assert dict(os.environ) == before


# ----------------------------------------------------------------------------- careless input


@pytest.fixture
def no_execution(monkeypatch, tmp_path, workspace):
    """papermill replaced by a recorder that fails the test if a notebook is run; the course's
    notebooks replaced by copies (so that even a failing test never rewrites the committed
    ones), and the runs and figures folders, all in ``tmp_path``."""
    import shutil

    import papermill

    copies = tmp_path / "notebooks"
    copies.mkdir()
    for path in course.notebook_paths():
        shutil.copy(path, copies / path.name)
    monkeypatch.setattr(course, "notebook_paths", lambda: sorted(copies.glob("*.ipynb")))
    calls: list[dict] = []
    monkeypatch.setattr(papermill, "execute_notebook", fake_papermill(calls))
    yield calls
    assert calls == [], "a notebook ran"


@pytest.mark.parametrize("command", ["run", "notebooks"])
@pytest.mark.parametrize("only", [["99"], ["04", "99"], []], ids=["99", "04 99", "nothing"])
def test_only_with_no_such_notebook_runs_nothing_and_names_the_notebooks(
    command, only, no_execution, capsys
):
    with pytest.raises(SystemExit) as exit_:
        course.main([command, "--only", *only])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert ("--only 99 matches no notebook" if only else "--only needs") in err
    for path in course.notebook_paths():
        assert path.name in err


def test_a_partial_run_says_what_ran_and_quotes_no_older_run(
    tmp_path, monkeypatch, capsys, workspace
):
    """`run --only 01` must neither say that every notebook ran nor quote the accuracy of a
    run trained some other day."""
    import json

    import papermill

    old = tmp_path / "runs" / "default" / "metrics.json"
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps({"test_accuracy": 0.9912, "train_seconds": 60, "epochs_run": 5}))
    os.utime(old, (1e9, 1e9))  # 2001
    calls: list[dict] = []
    monkeypatch.setattr(papermill, "execute_notebook", fake_papermill(calls))

    assert course.main(["run", "--only", "01"]) == 0

    out = capsys.readouterr().out
    assert len(calls) == 1
    assert "all notebooks ran" not in out and "99.12%" not in out
    assert "1 notebook (01_data_exploration.ipynb) ran in" in out
    assert "run 'default' was not trained by this run" in out


def test_a_finished_run_is_quoted_when_this_run_trained_it(
    tmp_path, monkeypatch, capsys, workspace
):
    import json

    metrics = tmp_path / "runs" / "kx" / "metrics.json"
    metrics.parent.mkdir(parents=True)
    start = time.time()
    metrics.write_text(json.dumps({"test_accuracy": 0.9912, "train_seconds": 60, "epochs_run": 5}))
    os.utime(metrics, (start + 1, start + 1))  # file times may lag time.time() by a tick
    assert course.run_result_line("kx", since=start).startswith(
        "run 'kx': test accuracy 99.12%, trained in 60 s (5 epochs)"
    )


@pytest.mark.parametrize("content", ["{not json", '{"test_accuracy": "high"}', "[]"])
def test_a_corrupt_metrics_file_is_named_in_the_summary_not_a_traceback(
    content, tmp_path, monkeypatch, workspace
):
    metrics = tmp_path / "runs" / "default" / "metrics.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(content)
    assert course.run_result_line("default").startswith(
        f"run 'default': {metrics} cannot be read ("
    )


PARAMETER_FILES = {
    "syntax error": ("epochs: [1\n", "line 2"),
    "python tag": ('epochs: !!python/object/apply:os.system ["echo hi"]\n', "line 1"),
    "custom tag": ("seed: !custom 3\n", "line 1"),
    "alias bomb": (
        'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n"
            for i in range(8)
        ),
        "anchors (&name) and aliases (*name) are not allowed",
    ),
    "not UTF-8": (b"seed: \xff\xfe\n", "not UTF-8"),
    "a list value": (
        "epochs: [1, 2]\n",
        "epochs: [1, 2] must be a single value (text, a number, true/false",
    ),
    "a number as a name": ("1: 2\nepochz: 3\n", "parameter names are text, got 1"),
    "a list": ("- epochs\n", "must hold a mapping of parameter: value"),
}


@pytest.mark.parametrize("case", PARAMETER_FILES)
def test_a_bad_parameter_file_is_named_with_the_line_and_nothing_runs(
    case, tmp_path, no_execution, capsys
):
    content, expected = PARAMETER_FILES[case]
    path = tmp_path / "bad.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(SystemExit) as exit_:
        course.main(["run", "--params", str(path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert str(path) in err and expected in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("where", ["missing", "a folder"])
def test_a_missing_parameter_file_or_a_folder_is_named(where, tmp_path, no_execution, capsys):
    path = tmp_path / "params.yaml"
    if where == "a folder":
        path.mkdir()
    with pytest.raises(SystemExit):
        course.main(["run", "--params", str(path)])
    assert f"cannot read the parameter file {path}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text", ["[1", "!!python/object/apply:os.system [ls]", "&a [*a]", "{a: 1}", "[1, 2]"]
)
def test_a_command_line_value_that_is_no_plain_yaml_value_stays_text(text):
    assert course.parse_value(text) == text


def test_a_runs_folder_that_cannot_be_made_is_named_not_a_traceback(
    tmp_path, monkeypatch, no_execution, capsys
):
    (tmp_path / "a file").write_text("")
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "a file" / "runs"))
    assert course.main(["run", "--only", "01"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"FAILED: {tmp_path / 'a file' / 'runs' / 'notebooks'}: Not a directory")
    assert "MNIST_RUNS_DIR" in err
