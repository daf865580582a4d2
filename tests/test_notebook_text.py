"""What a learner reads in the committed notebooks: checked without running them (fast).

These guard the kinds of defect a reader finds by eye but a machine can find first: a section
reference to a heading that is not there, nbval machinery in the code a learner reads, a home
folder in a committed output, a time estimate that disagrees with the notebook's plan.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from mnist_helpers import course
from mnist_helpers.paths import project_root
from tools.update_guide import runtime_table, time_line

NOTEBOOKS = course.notebook_paths()
BACK_MATTER = {"Summary", "Next", "Check yourself", "Exercises"}
HEADING = re.compile(r"^## (.*)$", re.MULTILINE)
NUMBERED = re.compile(r"^(\d+) · \S")
# "section 4", "sections 2 and 3", "§3", "§1-2", each optionally after a notebook number
# ("04's section 4", "02 §3-5"); a number right before names that notebook's sections.
REFERENCE = re.compile(
    r"(?:\b(?P<notebook>0\d)(?:'s)?,? )?(?:[Ss]ections? |§)(?P<first>\d+)"
    r"(?:(?:-| and | to )(?P<last>\d+))?"
)


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def section_numbers(nb: nbformat.NotebookNode) -> list[int]:
    numbers = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for title in HEADING.findall(cell.source):
                match = NUMBERED.match(title)
                if match:
                    numbers.append(int(match.group(1)))
    return numbers


def references(text: str) -> list[tuple[str | None, int]]:
    """Every (notebook, section) that ``text`` points to; notebook None: the same one."""
    found = []
    for match in REFERENCE.finditer(text):
        first = int(match.group("first"))
        last = int(match.group("last") or first)
        found += [(match.group("notebook"), n) for n in range(first, last + 1)]
    return found


SECTIONS = {path.name[:2]: section_numbers(read(path)) for path in NOTEBOOKS}


def test_the_reference_pattern_reads_the_forms_the_course_uses():
    assert references("the mean images of section 5") == [(None, 5)]
    assert references("see 04's section 4, and 02 §3-5") == [
        ("04", 4),
        ("02", 3),
        ("02", 4),
        ("02", 5),
    ]
    assert references("sections 2 and 3") == [(None, 2), (None, 3)]
    assert references("Section 12 drew") == [(None, 12)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_section_heading_is_numbered_in_order(path):
    titles = [
        title
        for cell in read(path).cells
        if cell.cell_type == "markdown"
        for title in HEADING.findall(cell.source)
    ]
    numbered = [t for t in titles if t not in BACK_MATTER]
    assert numbered, f"{path.name} has no sections"
    for title in numbered:
        assert NUMBERED.match(title), f"{path.name}: '## {title}' is not numbered ('## 3 · Title')"
    assert SECTIONS[path.name[:2]] == list(range(1, len(numbered) + 1)), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_section_reference_in_a_notebook_resolves(path):
    own = path.name[:2]
    for index, cell in enumerate(read(path).cells):
        for notebook, number in references(cell.source):
            target = notebook or own
            assert target in SECTIONS, f"{path.name} cell {index}: no notebook {target}"
            assert number in SECTIONS[target], (
                f"{path.name} cell {index} refers to section {number} of {target}, which has "
                f"sections 1-{len(SECTIONS[target])}"
            )


@pytest.mark.parametrize("name", ["README.md", "docs/teaching.md"])
def test_section_references_in_the_docs_name_a_notebook_and_resolve(name):
    text = (project_root() / name).read_text()
    for notebook, number in references(text):
        assert notebook, f"{name}: a section reference without its notebook ('04 §4')"
        assert number in SECTIONS[notebook], f"{name}: {notebook} has no section {number}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_nbval_markers_are_cell_tags_not_comments_in_the_code(path):
    nb = read(path)
    for index, cell in enumerate(nb.cells):
        assert "NBVAL_" not in cell.source, (
            f"{path.name} cell {index}: use the cell tag nbval-check-output, not a comment"
        )
    if path.name[:2] != "08":  # 08 is checked by its smoke run, not by nbval
        tagged = [c for c in nb.cells if "nbval-check-output" in c.metadata.get("tags", [])]
        assert tagged, f"{path.name}: no cell is checked by nbval"


HOME_PATHS = re.compile(r"/root\b|/home/|/Users/|[A-Z]:\\\\Users|/work/")


def output_texts(cell) -> list[str]:
    texts = []
    for output in cell.get("outputs", []):
        if "text" in output:
            texts.append(output["text"])
        for kind, value in output.get("data", {}).items():
            if kind.startswith("text/"):
                texts.append(value if isinstance(value, str) else "".join(value))
        texts += output.get("traceback", [])
    return texts


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_no_committed_output_holds_an_absolute_machine_path(path):
    nb = read(path)
    for index, cell in enumerate(nb.cells):
        for text in output_texts(cell):
            match = HOME_PATHS.search(text)
            assert not match, f"{path.name} cell {index} prints {match.group(0)!r}: {text[:200]}"
    for key in ("input_path", "output_path"):
        value = nb.metadata.get("papermill", {}).get(key) or ""
        assert not HOME_PATHS.search(value), f"{path.name} metadata papermill.{key}: {value}"


def test_every_notebooks_time_line_is_the_generated_one():
    rows = {row["notebook"]: row for row in runtime_table()}
    for path in NOTEBOOKS:
        expected = time_line(rows[path.name])
        assert expected in read(path).cells[0].source.splitlines(), (
            f"{path.name}: its time line is stale: run `make guide`"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_the_headers_objectives_are_the_plans_the_guide_lists(path):
    """The "You will learn" list a learner reads and the objectives the guide's table prints
    (from the notebook's metadata) are one list."""
    nb = read(path)
    header = nb.cells[0].source.split("**You will learn**", 1)[1].split("\n\n**", 1)[0]
    bullets = [" ".join(item.split()) for item in re.split(r"^- ", header, flags=re.M)[1:]]
    assert bullets == nb.metadata["course"]["objectives"], path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_figures_and_links_carry_the_notebooks_own_number(path):
    """A notebook saves its figures as ``figures/<its number>_<what>.png`` and links the
    notebooks that exist: renumbering the course must carry through both."""
    own = path.name[:2]
    names = {p.name for p in NOTEBOOKS}
    for index, cell in enumerate(read(path).cells):
        if cell.cell_type == "code":
            for saved in re.findall(r'save="(\d\d)_', cell.source):
                assert saved == own, f"{path.name} cell {index} saves a figure as {saved}_..."
        else:
            for linked in re.findall(r"\]\((\d\d_[\w]+\.ipynb)\)", cell.source):
                assert linked in names, f"{path.name} cell {index} links {linked}, not a notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name[:2])
def test_every_figure_a_cell_draws_is_shown_in_the_committed_notebook(path):
    """A code cell that draws with ``plots.plot_...`` shows the figure (a PNG output) in the
    committed notebook, so that GitHub, the site and a reader of the outputs see it, not only
    ``figures/``. (07's last four figures were once saved but never shown: their cells ended
    the plot call with ``;`` and had no ``plt.show()``.)"""
    for index, cell in enumerate(read(path).cells):
        if cell.cell_type == "code" and re.search(r"^\s*plots\.plot_\w+\(", cell.source, re.M):
            shown = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
            assert shown, f"{path.name} cell {index} draws a figure that the notebook does not show"
