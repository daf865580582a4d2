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
        assert all(not c.get("outputs") for c in student_nb.cells if c.cell_type == "code")


def test_check_prints_a_verdict_and_a_hint(capsys):
    exercises.EXERCISES.pop("99.1", None)

    @exercises.exercise("99.1", "twice two")
    def _(answer):
        return exercises.expect_number(answer, 4, "multiply, don't add")

    try:
        assert exercises.check("99.1", 4) is True
        assert "99.1 (twice two): correct!" in capsys.readouterr().out
        assert exercises.check("99.1", 5) is False
        assert "not yet. Hint: multiply, don't add" in capsys.readouterr().out
        assert exercises.check("99.1", "four") is False
        assert "should be a number" in capsys.readouterr().out
        with pytest.raises(KeyError, match="no exercise '99.7'"):
            exercises.check("99.7", 1)
    finally:
        exercises.EXERCISES.pop("99.1")
