"""Tests of the student/instructor editions and of the exercise checker framework."""

from __future__ import annotations

from collections import defaultdict

import nbformat
import pytest

from conftest import with_parameters
from mnist_helpers import editions, exercises
from mnist_helpers.editions import SolutionMarkerError, strip_code_solution, student_notebook
from mnist_helpers.paths import project_root

SOLVED = """import numpy as np

def pool(x):
    ### BEGIN SOLUTION
    return x.reshape(2, 2).max()
    ### END SOLUTION

### BEGIN SOLUTION
answer = pool(np.arange(4))
### END SOLUTION
check("03.9", answer)"""


def test_solution_blocks_become_indented_stubs():
    student = strip_code_solution(SOLVED)
    assert "reshape" not in student and "answer = pool" not in student
    assert "    # YOUR CODE HERE\n    raise NotImplementedError()" in student
    assert student.endswith('raise NotImplementedError()\ncheck("03.9", answer)')
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
    code.outputs = [nbformat.v4.new_output("stream", text="03.9: correct!")]
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


# --------------------------------------------------------------------------- where editions go


@pytest.fixture
def course(tmp_path, monkeypatch):
    """A tiny course (two notebooks, a samples folder) as the project root; returns its path."""
    root = tmp_path / "course"
    (root / "notebooks").mkdir(parents=True)
    for name in ("01_one.ipynb", "02_two.ipynb"):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(SOLVED)]
        nbformat.write(nb, root / "notebooks" / name)
    (root / "samples").mkdir()
    (root / "samples" / "digit.png").write_bytes(b"png")
    monkeypatch.setattr(editions, "project_root", lambda: root)
    return root


def tree(folder):
    """Every file under ``folder`` (relative path -> bytes), to compare before and after."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


def test_a_non_empty_folder_of_your_own_is_refused_and_left_untouched(course, tmp_path, capsys):
    documents = tmp_path / "Documents"
    (documents / "photos").mkdir(parents=True)
    (documents / "thesis.txt").write_text("four years of work")
    (documents / "photos" / "cat.jpg").write_bytes(b"cat")
    before = tree(documents)

    assert editions.main(["student", "--output", str(documents)]) == 1
    err = capsys.readouterr().err
    assert f"refusing to replace {documents}" in err
    assert editions.MARKER in err and "--output" in err and "Nothing was changed" in err
    with pytest.raises(editions.NotAnEditionError, match="not an edition"):
        editions.build_edition("instructor", documents)
    assert tree(documents) == before
    assert leftovers(tmp_path) == []


def test_a_folder_of_notebooks_that_is_not_an_edition_is_refused_too(course):
    # e.g. --output notebooks: the sources themselves must never be replaced by an edition
    with pytest.raises(editions.NotAnEditionError, match=r"no \.mnist-edition file"):
        editions.build_edition("student", course / "notebooks")
    assert "### BEGIN SOLUTION" in (course / "notebooks" / "01_one.ipynb").read_text()


def test_a_file_is_refused_as_output(course, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    with pytest.raises(editions.NotAnEditionError, match="it is a file"):
        editions.build_edition("student", target)
    assert target.read_text() == "mine"


def test_a_new_or_empty_folder_gets_a_marked_edition(course, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for output in (empty, tmp_path / "new" / "student"):
        written = editions.build_edition("student", output)
        assert [p.name for p in written] == ["01_one.ipynb", "02_two.ipynb"]
        assert all(p.is_file() for p in written)
        assert (output / "samples" / "digit.png").read_bytes() == b"png"
        assert editions.is_edition(output)
        assert "NotImplementedError" in (output / "01_one.ipynb").read_text()


def test_an_existing_edition_is_replaced_whole(course, tmp_path):
    output = tmp_path / "student"
    editions.build_edition("instructor", output)
    (output / "stale.ipynb").write_text("{}")
    editions.build_edition("student", output)
    assert not (output / "stale.ipynb").exists()
    assert "NotImplementedError" in (output / "01_one.ipynb").read_text()
    assert editions.is_edition(output)
    assert leftovers(tmp_path) == []


def test_the_default_folder_without_a_marker_is_refused_like_any_other(course):
    old = course / "dist" / "student"  # e.g. notebooks written there by hand
    old.mkdir(parents=True)
    (old / "01_one.ipynb").write_text("{}")
    with pytest.raises(editions.NotAnEditionError, match=r"no \.mnist-edition file"):
        editions.build_edition("student")
    assert (old / "01_one.ipynb").read_text() == "{}"


def test_a_failed_build_leaves_no_temporary_folder_and_the_old_edition(
    course, tmp_path, monkeypatch
):
    output = tmp_path / "student"
    editions.build_edition("student", output)
    before = tree(output)
    stray = tmp_path / ".student.partial"  # the fixed name older versions used, now someone's
    stray.mkdir()
    (stray / "keep.txt").write_text("keep")
    temporary = []

    def failing_student_notebook(nb, name="notebook"):
        temporary.extend(tmp_path.glob(".student~*.partial"))
        raise SolutionMarkerError(f"{name}, cell 0: ### BEGIN SOLUTION without ### END SOLUTION")

    monkeypatch.setattr(editions, "student_notebook", failing_student_notebook)
    with pytest.raises(SolutionMarkerError):
        editions.build_edition("student", output)
    assert len(temporary) == 1 and temporary[0] != stray, "a unique temporary folder beside it"
    assert not temporary[0].exists()
    assert leftovers(tmp_path) == [".student.partial"]
    assert (stray / "keep.txt").read_text() == "keep"
    assert tree(output) == before


def test_the_student_edition_changes_exercise_cells_only(tmp_path):
    """Every other code cell is the instructor's, character for character: so a run of the
    solutions (the course run, root conftest.py) also runs the student edition's other cells."""
    student = editions.build_edition("student", tmp_path / "student")
    for path in student:
        solved = nbformat.read(project_root() / "notebooks" / path.name, as_version=4)
        given = nbformat.read(path, as_version=4)
        assert len(given.cells) == len(solved.cells), path.name
        for index, (mine, theirs) in enumerate(zip(given.cells, solved.cells, strict=True)):
            if mine.cell_type == "code" and "# YOUR CODE HERE" not in mine.source:
                assert mine.source == theirs.source, f"{path.name}, cell {index}"


def where_sections_start(cells: list) -> tuple[int, int, int]:
    """The index of a course notebook's first section, of its Exercises section, and of the
    section after the Exercises (an appendix, such as 06's; the number of cells if none)."""
    headings = [
        i
        for i, cell in enumerate(cells)
        if cell.cell_type == "markdown" and cell.source.startswith("## ")
    ]
    exercises = [i for i in headings if cells[i].source.startswith("## Exercises")]
    assert headings and exercises, "a course notebook has sections and exercises"
    after = [i for i in headings if i > exercises[0]]
    return headings[0], exercises[0], after[0] if after else len(cells)


#: Quick settings for each notebook's parameters (only those a notebook declares are used).
STUDENT_RUN = {"profile": "smoke", "run_name": "student"}


@pytest.mark.notebooks
@pytest.mark.real_data
def test_student_notebooks_run_headlessly_and_fail_only_at_the_exercises(workspace):
    """In each student notebook, run after its set-up cells, every exercise stub raises
    NotImplementedError and every other cell of the Exercises section runs (not an appendix
    after it, such as 06's: its cells build on the sections above, like a student's Run All,
    which stops at the first stub; tests/test_browser.py runs that).

    The cells in between are not run here: they are the instructor's, character for
    character (the test above), and come before every stub, so a student's kernel reaches
    the exercises in the state the course run and nbval (root conftest.py) reach them in,
    without an error. One kernel runs the eight notebooks, emptied (``%reset -f``) before each.
    """
    from nbclient import NotebookClient

    from mnist_helpers.env import KERNEL_NAME

    written = editions.build_edition("student", workspace / "student")
    assert [p.name[:2] for p in written] == ["01", "02", "03", "04", "05", "06", "07", "08"]
    batch = nbformat.v4.new_notebook(metadata={"papermill": {}})
    origin = []  # (notebook, cell index) of each cell of the batch
    for path in written:
        nb = with_parameters(path, STUDENT_RUN)
        first, exercises, end = where_sections_start(nb.cells)
        early = [i for i, c in enumerate(nb.cells[:exercises]) if "# YOUR CODE HERE" in c.source]
        assert not early, f"{path.name}: exercise cells {early} before the Exercises section"
        batch.cells.append(nbformat.v4.new_code_cell("%reset -f"))
        origin.append((path.name, "reset"))
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and (index < first or exercises <= index < end):
                batch.cells.append(cell)
                origin.append((path.name, index))
    client = NotebookClient(
        batch,
        kernel_name=KERNEL_NAME,
        allow_errors=True,
        timeout=600,
        resources={"metadata": {"path": str(workspace / "student")}},
    )
    client.execute()
    stubs = defaultdict(int)
    for cell, (name, index) in zip(batch.cells, origin, strict=True):
        errors = [o.ename for o in cell.outputs if o.output_type == "error"]
        where = f"{name}, cell {index}"
        if "# YOUR CODE HERE" in cell.source:
            stubs[name] += 1
            assert errors == ["NotImplementedError"], where
        else:
            assert errors == [], f"{where} raised {errors}:\n{cell.source}"
    assert all(stubs[p.name] >= 3 for p in written), dict(stubs)


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("notes.txt/student", "notes.txt is a file, not a folder"),
        ("notes.txt/deeper/student", "Not a directory"),
    ],
)
def test_an_output_under_a_file_is_refused_with_a_message(output, reason, course, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert editions.main(["student", "--output", str(tmp_path / output)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write the student edition to {tmp_path / output}: ")
    assert reason in err and "--output" in err
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("### BEGIN SOLUTION\nx = 1", "02_two.ipynb, cell 0: ### BEGIN SOLUTION without"),
        (None, "02_two.ipynb cannot be read as a notebook"),
    ],
    ids=["unbalanced markers", "not JSON"],
)
def test_a_broken_course_notebook_is_named_and_nothing_is_written(
    source, message, course, tmp_path, capsys
):
    broken = course / "notebooks" / "02_two.ipynb"
    if source is None:
        broken.write_text("{")
    else:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(source)]
        nbformat.write(nb, broken)
    assert editions.main(["student", "--output", str(tmp_path / "student")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not (tmp_path / "student").exists()
    assert leftovers(tmp_path) == []
