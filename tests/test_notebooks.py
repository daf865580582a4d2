"""The notebooks run headlessly: a papermill smoke run of 03 to 06, and bad parameters.

nbval re-executes every committed notebook and compares its deterministic outputs (pytest
collects ``notebooks/`` with ``--nbval-lax``); these tests check what papermill users rely on.
Each starts a kernel, so they take a while: they are marked ``notebooks``.
"""

from __future__ import annotations

import json

import nbformat
import papermill
import pytest

from mnist_helpers import course
from mnist_helpers.paths import project_root
from mnist_helpers.training import ACCURACY_FLOORS

pytestmark = pytest.mark.notebooks
NOTEBOOKS = project_root() / "notebooks"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """Runs and figures of these tests go to a temporary folder."""
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_FIGURES_DIR", str(tmp_path / "figures"))
    # the real data is needed here: undo the unit tests' empty cache
    monkeypatch.delenv("MNIST_CACHE_DIR", raising=False)
    return tmp_path


def test_every_notebook_declares_the_course_kernel():
    paths = course.notebook_paths()
    assert [p.name[:2] for p in paths] == ["01", "02", "03", "04", "05", "06", "07"]
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata.kernelspec.name == "mnist-cnn-course", path.name
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.real_data
def test_smoke_run_of_03_to_07_writes_every_artifact(workspace):
    parameters = {"profile": "smoke", "run_name": "smoke", "seed": 7}
    code = course.main(
        ["run", "--only", "03", "04", "05", "06", "07"]
        + [a for k, v in parameters.items() for a in ("-p", k, str(v))]
    )
    assert code == 0
    run = workspace / "runs" / "smoke"
    # 03's run, and 06's exports of it (LiteRT, ONNX, the 8-bit LiteRT copy), the checked
    # ones with the record of what they were made from (their SHA-256 and the model's)
    assert sorted(p.name for p in run.iterdir()) == [
        "history.csv",
        "metrics.json",
        "model.keras",
        "model.onnx",
        "model.onnx.sha256",
        "model.tflite",
        "model.tflite.sha256",
        "model_int8.tflite",
    ]
    metrics = json.loads((run / "metrics.json").read_text())
    # the parameters really reached the run
    assert metrics["seed"] == 7 and metrics["config"]["run_name"] == "smoke"
    assert metrics["n_train"] == 6000 and metrics["epochs_run"] == 2
    # and it learned: chance is 10 %, the smoke profile's floor 90 %
    assert metrics["test_accuracy"] >= ACCURACY_FLOORS["smoke"], metrics["test_accuracy"]
    executed = workspace / "runs" / "notebooks"
    assert sorted(p.name for p in executed.iterdir()) == [
        "03_training.ipynb",
        "04_evaluation.ipynb",
        "05_going_further.ipynb",
        "06_your_own_digits.ipynb",
        "07_when_the_data_shifts.ipynb",
    ]
    figures = {p.name for p in (workspace / "figures").iterdir()}
    assert {
        "03_ablation.png",
        "03_learning_curves.png",
        "03_overfitting.png",
        "04_confusion_matrix.png",
        "04_mistakes.png",
        "05_accuracy_vs_time.png",
        "05_hard_digits.png",
        "06_predictions.png",
        "07_corruptions.png",
        "07_shift_accuracy.png",
        "07_translate.png",
    } <= figures
    # 05 ran its smoke profile (make run's default for it): its runs use 2,000 images
    members = sorted((workspace / "runs").glob("05_*/metrics.json"))
    assert [p.parent.name for p in members] == [
        "05_augmented_s7",
        "05_augmented_s8",
        "05_baseline",
    ]
    for path in members:
        member = json.loads(path.read_text())
        assert member["n_train"] == 2000
        # 05's smoke target: an untrained model scores about 10 %
        assert member["test_accuracy"] >= 0.9, (path.parent.name, member["test_accuracy"])
    # 07 ran its smoke profile: its own runs learned, and it scored 03's smoke run
    shifted = sorted(p.parent.name for p in (workspace / "runs").glob("07_*/metrics.json"))
    assert shifted == [
        "07_cnn_plain",
        "07_cnn_standardized",
        "07_cnn_standardized_augmented",
        "07_keras_example",
        "07_mlp",
    ]
    for name in shifted:
        member = json.loads((workspace / "runs" / name / "metrics.json").read_text())
        assert member["n_train"] == 6000 and member["seed"] == 7, name
        assert member["test_accuracy"] >= 0.8, (name, member["test_accuracy"])
    robustness = nbformat.read(executed / "07_when_the_data_shifts.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in robustness.cells for o in c.get("outputs", []))
    assert "CNN now (03's default)" in text and "worst:" in text
    # 03's overfitting run (section 10) really overfitted and stopped early
    training = nbformat.read(executed / "03_training.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in training.cells for o in c.get("outputs", []))
    assert "stopped early: True; best epoch before the last: True" in printed
    injected = nbformat.read(executed / "04_evaluation.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in injected.cells)


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("epochs", "ten", "epochs must be an integer"),
        ("architecture", "resnet", "model must be one of"),
        ("n_train", 10**6, "n_train must be at most"),
    ],
)
def test_bad_parameters_stop_03_in_its_first_cells(workspace, name, value, message):
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook(
            str(NOTEBOOKS / "03_training.ipynb"),
            str(workspace / "out.ipynb"),
            parameters={name: value, "run_name": "bad"},
            kernel_name="mnist-cnn-course",
            progress_bar=False,
        )
    assert failure.value.ename == "ValueError"
    assert message in failure.value.evalue
    nb = nbformat.read(workspace / "out.ipynb", as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    failed = [
        i
        for i, c in enumerate(code_cells)
        if any(o.get("output_type") == "error" for o in c.outputs)
    ]
    assert failed and failed[0] <= 4, "the parameter check must come right after the parameters"
    assert not (workspace / "runs" / "bad").exists()


def test_04_without_a_run_names_the_command_to_run_first(workspace):
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook(
            str(NOTEBOOKS / "04_evaluation.ipynb"),
            str(workspace / "out.ipynb"),
            parameters={"run_name": "never-trained"},
            kernel_name="mnist-cnn-course",
            progress_bar=False,
        )
    assert failure.value.ename == "RunNotFoundError"
    assert "03_training.ipynb" in failure.value.evalue


def test_course_cli_refuses_unknown_parameters(capsys):
    with pytest.raises(SystemExit):
        course.main(["run", "-p", "epochz", "3"])
    assert "unknown parameter(s) ['epochz']" in capsys.readouterr().err


def test_parse_value_follows_yaml():
    assert course.parse_value("3") == 3
    assert course.parse_value("3e-3") == 0.003
    assert course.parse_value("null") is None
    assert course.parse_value("cnn") == "cnn"


# what a learner must not see in the terminal (the issue that asked for it quotes these)
CHATTER = (
    "absl::InitializeLog",
    "oneDNN custom operations",
    "Could not find cuda drivers",
    "Kernel is running over TCP",
)


def test_a_kernels_start_up_chatter_is_hidden_and_its_real_errors_still_shown(tmp_path, capfd):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "mnist-cnn-course", "language": "python"}
    noise = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n"
        "I0000 00:00:1795934413.955597    7521 cudart_stub.cc:31] Could not find cuda drivers\\n"
    )
    nb.cells = [
        nbformat.v4.new_code_cell(
            f"import os\nos.write(2, b'{noise}')\nos.write(2, b'a real kernel problem\\n')\n"
            "print('the output')"
        )
    ]
    nbformat.write(nb, tmp_path / "chatter.ipynb")
    course.execute_notebook(tmp_path / "chatter.ipynb", tmp_path / "out.ipynb")
    err = capfd.readouterr().err
    assert "a real kernel problem" in err
    assert not [line for line in err.splitlines() if any(c in line for c in CHATTER)], err
    executed = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert executed.cells[0].outputs[-1]["text"] == "the output\n"


@pytest.mark.real_data
def test_the_course_runner_prints_no_tensorflow_or_jupyter_chatter(workspace):
    """`make run` is this command over every notebook; 01 imports TensorFlow in a kernel."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-m", "mnist_helpers.course", "run", "--only", "01"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout + result.stderr
    assert "running 01_data_exploration.ipynb" in result.stdout
    assert not [line for line in printed.splitlines() if any(c in line for c in CHATTER)], printed
