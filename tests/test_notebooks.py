"""The notebooks run headlessly: the session's course run (every notebook once, at the smoke
profile, see ``course_run`` in the root conftest.py), its checked outputs against the committed
ones, and bad parameters.

nbval re-executes 04 at its default profile (pytest collects ``notebooks/`` with
``--nbval-lax``); the other notebooks' checked outputs are compared here, in the course run's
executed copies. The tests that start a kernel take a while: they are marked ``notebooks``.
"""

from __future__ import annotations

import copy
import json
import re
from collections import defaultdict

import nbformat
import papermill
import pytest
from nbval.plugin import coalesce_streams, get_sanitize_patterns, transform_streams_for_comparison

from mnist_helpers import course
from mnist_helpers.paths import project_root
from mnist_helpers.training import ACCURACY_FLOORS
from tools.update_guide import printed

pytestmark = pytest.mark.notebooks
NOTEBOOKS = project_root() / "notebooks"


def test_every_notebook_declares_the_course_kernel():
    paths = course.notebook_paths()
    assert [p.name[:2] for p in paths] == ["01", "02", "03", "04", "05", "06", "07", "08"]
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata.kernelspec.name == "mnist-cnn-course", path.name
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.real_data
def test_make_run_at_the_smoke_profile_writes_every_artifact(course_run):
    print(course_run.stdout)  # each notebook's seconds, shown with -rA
    assert course_run.returncode == 0, course_run.stderr[-5000:]
    runs = course_run.runs
    run = runs / "smoke"
    # 04's run, and 06's exports of it (LiteRT, ONNX, the 8-bit LiteRT copy, the fine-tuned
    # model's ONNX), the checked ones with the record of what they were made from (their
    # SHA-256 and the model's)
    assert sorted(p.name for p in run.iterdir()) == [
        "history.csv",
        "metrics.json",
        "model.keras",
        "model.onnx",
        "model.onnx.sha256",
        "model.tflite",
        "model.tflite.sha256",
        "model_int8.tflite",
        "model_tuned.onnx",
    ]
    metrics = json.loads((run / "metrics.json").read_text())
    # the parameters really reached the run
    assert metrics["config"]["run_name"] == "smoke"
    assert metrics["n_train"] == 6000 and metrics["epochs_run"] == 2
    # and it learned: chance is 10 %, the smoke profile's floor 90 %
    assert metrics["test_accuracy"] >= ACCURACY_FLOORS["smoke"], metrics["test_accuracy"]
    assert sorted(p.name for p in course_run.executed.iterdir()) == [
        p.name for p in course.notebook_paths()
    ]
    # every figure of the committed figures/, drawn again in runs/figures/ (a run never
    # overwrites the committed ones)
    committed = {p.name for p in (project_root() / "figures").glob("*.png")}
    assert committed <= {p.name for p in (runs / "figures").iterdir()}
    assert course_run.committed_figures_untouched
    # 08 ran its smoke profile: its runs use 2,000 images, in folders of their own (a quick
    # run never replaces a full one)
    members = sorted(runs.glob("08_*/metrics.json"))
    assert [p.parent.name for p in members] == [
        "08_augmented_s42-smoke",
        "08_augmented_s43-smoke",
        "08_baseline-smoke",
    ]
    for path in members:
        member = json.loads(path.read_text())
        assert member["n_train"] == 2000
        # 08's smoke target: an untrained model scores about 10 %
        assert member["test_accuracy"] >= 0.9, (path.parent.name, member["test_accuracy"])
    # 07 ran its smoke profile: its own runs learned, and it scored 04's smoke run
    shifted = sorted(p.parent.name for p in runs.glob("07_*/metrics.json"))
    assert shifted == [
        "07_cnn_plain-smoke",
        "07_cnn_standardized-smoke",
        "07_cnn_standardized_augmented-smoke",
        "07_keras_example-smoke",
        "07_mlp-smoke",
    ]
    for name in shifted:
        member = json.loads((runs / name / "metrics.json").read_text())
        assert member["n_train"] == 6000 and member["seed"] == 42, name
        assert member["test_accuracy"] >= 0.8, (name, member["test_accuracy"])
    text = printed(course_run.notebook("07"))
    assert "CNN now (04's default)" in text and "worst:" in text
    # 04's overfitting run (section 10) really overfitted and stopped early
    assert "stopped early: True; best epoch before the last: True" in printed(
        course_run.notebook("04")
    )
    injected = course_run.notebook("05")
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in injected.cells)


@pytest.mark.real_data
@pytest.mark.parametrize("number", ["01", "02", "03", "04", "05", "06", "07", "08"])
def test_every_cell_of_the_course_run_ran_without_an_error_or_a_stderr_line(course_run, number):
    """What JupyterLab would show as an error or a red stderr box (the kernel is the same)."""
    nb = course_run.notebook(number)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert cell.execution_count is not None, f"{number}, cell {index} did not run"
        for output in cell.outputs:
            assert output.output_type != "error", f"{number}, cell {index}: {output.evalue}"
            assert output.get("name") != "stderr", f"{number}, cell {index}: {output.text}"


# --------------------------------------------------------------------------- checked outputs

#: What nbval leaves out of the comparison (its defaults, without nbdime: images too).
NBVAL_SKIP_COMPARE = (
    "metadata",
    "traceback",
    "prompt_number",
    "output_type",
    "name",
    "execution_count",
    "application/vnd.jupyter.widget-view+json",
    "image/png",
    "image/jpeg",
)
SANITIZE = get_sanitize_patterns((project_root() / "tests" / "nbval_sanitize.cfg").read_text())


def comparable(outputs: list) -> dict[str, list]:
    """``outputs`` as nbval compares them: streams merged, sanitized with
    tests/nbval_sanitize.cfg, by key (a stream's name or a MIME type) in order."""
    found = defaultdict(list)
    for output in transform_streams_for_comparison(coalesce_streams(copy.deepcopy(outputs))):
        for key, value in output.items():
            if key in NBVAL_SKIP_COMPARE:
                continue
            for name, item in value.items() if key == "data" else [(key, value)]:
                if name not in NBVAL_SKIP_COMPARE:
                    for regex, replace in SANITIZE:
                        item = re.sub(regex, replace, item)
                    found[name].append(item)
    return dict(found)


def test_the_comparison_sees_what_nbval_sees():
    stream = nbformat.v4.new_output("stream", name="stdout", text="took 3.2 s\n")
    again = nbformat.v4.new_output("stream", name="stdout", text="done\n")
    result = nbformat.v4.new_output(
        "execute_result", data={"text/plain": "7", "image/png": "iVBOR"}, execution_count=3
    )
    assert comparable([stream, again, result]) == {
        "stdout": ["took DURATION\ndone\n"],
        "text/plain": ["7"],
    }
    other = nbformat.v4.new_output("execute_result", data={"text/plain": "8"})
    assert comparable([stream, again, other]) != comparable([stream, again, result])


@pytest.mark.real_data
@pytest.mark.parametrize("number", ["01", "02", "03", "05", "06"])
def test_checked_outputs_of_the_course_run_match_the_committed_notebook(course_run, number):
    """nbval's check (``--nbval-lax``: the cells tagged nbval-check-output) on the course run's
    copy: these notebooks' checked cells describe the data, the samples and the layers, the
    same at any profile and for any run of 04's default model."""
    (path,) = NOTEBOOKS.glob(f"{number}_*.ipynb")
    committed = nbformat.read(path, as_version=4)
    executed = {cell.get("id"): cell for cell in course_run.notebook(number).cells}
    checked = [c for c in committed.cells if "nbval-check-output" in c.metadata.get("tags", [])]
    assert checked, f"{path.name} has no cell tagged nbval-check-output"
    for cell in checked:
        ran = executed[cell.id]
        assert ran.source == cell.source
        assert comparable(ran.outputs) == comparable(cell.outputs), (
            f"{path.name}, cell {committed.cells.index(cell)}: the outputs differ from the "
            f"committed ones:\n{cell.source}"
        )


# --------------------------------------------------------------------------- what is printed

# what a learner must not see in the terminal (the issue that asked for it quotes these)
CHATTER = (
    "absl::InitializeLog",
    "oneDNN custom operations",
    "Could not find cuda drivers",
    "Kernel is running over TCP",
)


@pytest.mark.real_data
def test_the_course_runner_prints_no_tensorflow_or_jupyter_chatter(course_run):
    """`make run` is the course run's command; every notebook imports TensorFlow in a kernel,
    and TF_CPP_MIN_LOG_LEVEL is not set for it."""
    course_run.check()
    for path in course.notebook_paths():
        assert f"running {path.name}" in course_run.stdout
    assert "all notebooks ran in" in course_run.stdout
    printed = course_run.stdout + course_run.stderr
    assert not [line for line in printed.splitlines() if any(c in line for c in CHATTER)], printed


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


# --------------------------------------------------------------------------- bad parameters


@pytest.fixture
def real_workspace(workspace, monkeypatch):
    """``workspace``, with the real data's cache (these kernels read the MNIST files)."""
    monkeypatch.delenv("MNIST_CACHE_DIR", raising=False)
    return workspace


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("epochs", "ten", "epochs must be a positive integer"),
        ("architecture", "resnet", "architecture must be one of"),
        ("n_train", 10**6, "n_train must be at most"),
    ],
)
def test_bad_parameters_stop_04_in_its_first_cells(real_workspace, name, value, message):
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook(
            str(NOTEBOOKS / "04_training.ipynb"),
            str(real_workspace / "out.ipynb"),
            parameters={name: value, "run_name": "bad"},
            kernel_name="mnist-cnn-course",
            progress_bar=False,
        )
    assert failure.value.ename == "ValueError"
    assert message in failure.value.evalue
    nb = nbformat.read(real_workspace / "out.ipynb", as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    failed = [
        i
        for i, c in enumerate(code_cells)
        if any(o.get("output_type") == "error" for o in c.outputs)
    ]
    assert failed and failed[0] <= 4, "the parameter check must come right after the parameters"
    assert not (real_workspace / "runs" / "bad").exists()


def test_05_without_a_run_names_the_command_to_run_first(real_workspace):
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook(
            str(NOTEBOOKS / "05_evaluation.ipynb"),
            str(real_workspace / "out.ipynb"),
            parameters={"run_name": "never-trained"},
            kernel_name="mnist-cnn-course",
            progress_bar=False,
        )
    assert failure.value.ename == "RunNotFoundError"
    assert "04_training.ipynb" in failure.value.evalue


def test_course_cli_refuses_unknown_parameters(capsys):
    with pytest.raises(SystemExit):
        course.main(["run", "-p", "epochz", "3"])
    assert "unknown parameter(s) ['epochz']" in capsys.readouterr().err


def test_parse_value_follows_yaml():
    assert course.parse_value("3") == 3
    assert course.parse_value("3e-3") == 0.003
    assert course.parse_value("null") is None
    assert course.parse_value("cnn") == "cnn"
