"""Tests of the student/instructor editions and of the exercise checker framework."""

from __future__ import annotations

import nbformat
import pytest

from mnist_helpers import editions, exercises
from mnist_helpers.editions import SolutionMarkerError, strip_code_solution, student_notebook

SOLVED = """import numpy as np

def pool(x):
    ### BEGIN SOLUTION
    return x.reshape(2, 2).max()
    ### END SOLUTION

### BEGIN SOLUTION
answer = pool(np.arange(4))
### END SOLUTION
check("02.9", answer)"""


def test_solution_blocks_become_indented_stubs():
    student = strip_code_solution(SOLVED)
    assert "reshape" not in student and "answer = pool" not in student
    assert "    # YOUR CODE HERE\n    raise NotImplementedError()" in student
    assert student.endswith('raise NotImplementedError()\ncheck("02.9", answer)')
    assert student.count("raise NotImplementedError()") == 2


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("### BEGIN SOLUTION\nx = 1", "without ### END"),
        ("x = 1\n### END SOLUTION", "without ### BEGIN"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "nested"),
    ],
)
def test_unbalanced_markers_are_refused_with_the_cell_named(source, message):
    with pytest.raises(SolutionMarkerError, match=message):
        strip_code_solution(source, "02_x.ipynb, cell 7")


def test_student_notebook_clears_outputs_and_written_answers():
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell(SOLVED, execution_count=3)
    code.outputs = [nbformat.v4.new_output("stream", text="02.9: correct!")]
    answer = nbformat.v4.new_markdown_cell(
        "Why?\n<!-- BEGIN SOLUTION -->Because pooling keeps the max.<!-- END SOLUTION -->"
    )
    nb.cells = [code, answer]
    student = student_notebook(nb)
    assert student.cells[0].outputs == [] and student.cells[0].execution_count is None
    assert "Because pooling" not in student.cells[1].source
    assert "Write your answer here" in student.cells[1].source
    assert code.outputs, "the original notebook must not be modified"


def test_built_editions_hold_every_notebook_and_no_solution_leaks(tmp_path):
    student = editions.build_edition("student", tmp_path / "student")
    instructor = editions.build_edition("instructor", tmp_path / "instructor")
    assert [p.name for p in student] == [p.name for p in instructor]
    assert len(student) >= 4
    for path in instructor:
        source_nb = nbformat.read(path, as_version=4)
        student_nb = nbformat.read(tmp_path / "student" / path.name, as_version=4)
        student_text = "\n".join(c.source for c in student_nb.cells)
        for cell in source_nb.cells:
            if cell.cell_type != "code" or editions.BEGIN not in cell.source:
                continue
            for block in cell.source.split(editions.BEGIN)[1:]:
                solution = block.split(editions.END)[0]
                for line in solution.strip().splitlines():
                    if line.strip() and not line.strip().startswith("#"):
                        assert line.strip() not in student_text, f"{path.name} leaks {line!r}"
        assert "BEGIN SOLUTION" not in student_text and "A possible answer" not in student_text
        assert all(not c.get("outputs") for c in student_nb.cells if c.cell_type == "code")


def test_check_prints_a_verdict_and_a_hint(capsys):
    exercises.EXERCISES.pop("99.1", None)

    @exercises.exercise("99.1", "twice two")
    def _(answer):
        return exercises.expect_number(answer, 4, "multiply, don't add")

    try:
        exercises.check("99.1", 4)
        assert capsys.readouterr().out == "99.1 (twice two): correct!\n"
        exercises.check("99.1", 5)
        assert "not yet. Hint: multiply, don't add" in capsys.readouterr().out
        exercises.check("99.1", "four")
        assert "should be a number" in capsys.readouterr().out
        assert exercises.hint_for("99.1", 4) is None
        assert exercises.hint_for("99.1", 5) == "multiply, don't add"
        with pytest.raises(KeyError, match="no exercise '99.7'"):
            exercises.check("99.7", 1)
    finally:
        exercises.EXERCISES.pop("99.1")


#: Quick settings for each notebook's parameters (only those a notebook declares are used).
STUDENT_RUN = {
    "profile": "smoke",
    "run_name": "student",
    "n_train": 1000,
    "compare_n_train": 1000,
    "compare_epochs": 1,
    "members": 1,
}


@pytest.mark.notebooks
@pytest.mark.real_data
def test_student_notebooks_run_headlessly_and_fail_only_at_the_exercises(tmp_path, monkeypatch):
    from nbclient import NotebookClient
    from papermill.parameterize import parameterize_notebook

    from mnist_helpers.course import notebook_parameters
    from mnist_helpers.env import KERNEL_NAME

    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_FIGURES_DIR", str(tmp_path / "figures"))
    written = editions.build_edition("student", tmp_path / "student")
    assert [p.name[:2] for p in written] == ["01", "02", "03", "04", "05", "06"]
    for path in written:  # in order: 04 and 06 use the run that 03 trained
        declared = notebook_parameters(path)
        nb = nbformat.read(path, as_version=4)
        nb.metadata["papermill"] = {}  # where papermill records the parameters it injects
        nb = parameterize_notebook(nb, {k: v for k, v in STUDENT_RUN.items() if k in declared})
        client = NotebookClient(
            nb,
            kernel_name=KERNEL_NAME,
            allow_errors=True,
            timeout=600,
            resources={"metadata": {"path": str(path.parent)}},
        )
        client.execute()
        stubs = 0
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            errors = [o.ename for o in cell.outputs if o.output_type == "error"]
            where = f"{path.name}, cell {index}"
            if "# YOUR CODE HERE" in cell.source:
                stubs += 1
                assert errors == ["NotImplementedError"], where
            else:
                assert errors == [], f"{where} raised {errors}:\n{cell.source}"
        assert stubs >= 3, path.name
