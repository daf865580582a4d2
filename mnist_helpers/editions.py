"""Build the student and instructor editions of the notebooks from the one committed source.

* ``make instructor`` -> ``dist/instructor/``: every notebook as committed, solutions and
  outputs included.
* ``make student`` -> ``dist/student/``: outputs cleared, and in every code cell the lines
  between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` replaced by::

      # YOUR CODE HERE
      raise NotImplementedError()

  Markdown between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` (written answers)
  is removed. The scheme is nbgrader's, so the notebooks also work with nbgrader.

Built with nbformat; nobody edits the copies by hand. Taught in docs/teaching.md.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import nbformat

from mnist_helpers.paths import project_root

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
MD_SOLUTION = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->", re.S)
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


class SolutionMarkerError(ValueError):
    """A cell's solution markers are unbalanced; the message names the cell."""


def strip_code_solution(source: str, where: str = "cell") -> str:
    """Replace each marked solution block of a code cell by the ``# YOUR CODE HERE`` stub.

    The stub keeps the indentation of the ``### BEGIN SOLUTION`` line.

    Raises:
        SolutionMarkerError: a BEGIN without END, an END without BEGIN, or nesting.
    """
    out, inside, indent = [], False, ""
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise SolutionMarkerError(f"{where}, line {number}: nested {BEGIN}")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            out.extend(indent + stub_line for stub_line in STUB.splitlines())
        elif stripped == END:
            if not inside:
                raise SolutionMarkerError(f"{where}, line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise SolutionMarkerError(f"{where}: {BEGIN} without {END}")
    return "\n".join(out)


def has_solution(cell) -> bool:
    """Whether a cell holds a marked solution (code or markdown)."""
    return BEGIN in cell.source or bool(MD_SOLUTION.search(cell.source))


def student_notebook(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Return a copy of ``nb`` with solutions stubbed out and every output cleared."""
    nb = nbformat.from_dict(nb)
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index}"
        if cell.cell_type == "code":
            cell.source = strip_code_solution(cell.source, where)
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("papermill", None)
            cell.metadata.pop("execution", None)
        elif cell.cell_type == "markdown":
            cell.source = MD_SOLUTION.sub("*Write your answer here.*", cell.source)
    nb.metadata.pop("papermill", None)
    return nb


def build_edition(edition: str, output: Path | None = None) -> list[Path]:
    """Write ``dist/<edition>/`` (``student`` or ``instructor``); return the notebooks written.

    The folder is rebuilt from scratch (written to a temporary sibling, then renamed).
    """
    if edition not in ("student", "instructor"):
        raise ValueError(f"edition must be 'student' or 'instructor', got {edition!r}")
    root = project_root()
    output = Path(output or root / "dist" / edition)
    tmp = output.with_name(f".{output.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    written = []
    for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if edition == "student":
            nb = student_notebook(nb, path.name)
        nbformat.write(nb, tmp / path.name)
        written.append(output / path.name)
    for extra in ("samples", "sweeps"):
        if (root / extra).is_dir():
            shutil.copytree(root / extra, tmp / extra)
    shutil.rmtree(output, ignore_errors=True)
    tmp.rename(output)
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m mnist_helpers.editions student|instructor [--output DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m mnist_helpers.editions")
    parser.add_argument("edition", choices=["student", "instructor"])
    parser.add_argument("--output", type=Path, help="default: dist/<edition>")
    args = parser.parse_args(argv)
    written = build_edition(args.edition, args.output)
    print(f"{args.edition} edition: {len(written)} notebooks in {written[0].parent}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
