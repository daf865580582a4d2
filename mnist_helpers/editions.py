"""Build the student and instructor editions of the notebooks from the one committed source.

``make instructor`` writes ``dist/instructor/``: the notebooks as committed. ``make student``
writes ``dist/student/``: outputs cleared, each code block between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` replaced by ``# YOUR CODE HERE`` / ``raise NotImplementedError()``, and
markdown between ``<!-- BEGIN SOLUTION -->`` and ``<!-- END SOLUTION -->`` removed (nbgrader's
scheme). An edition holds a marker file, :data:`MARKER`; a rebuild replaces only a folder that
has it (or an empty one), with a complete build (:func:`mnist_helpers.files.staged_folder`).
Taught in docs/teaching.md.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

import nbformat

from mnist_helpers.files import staged_folder
from mnist_helpers.paths import project_root

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
MD_SOLUTION = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->", re.S)
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
#: The file that marks a folder as an edition built here (and so safe to replace).
MARKER = ".mnist-edition"
#: The folders an edition holds besides the notebooks, copied as they are.
EXTRAS = ("samples", "sweeps")


class SolutionMarkerError(ValueError):
    """A cell's solution markers are unbalanced; the message names the cell."""


class NotAnEditionError(FileExistsError):
    """The output folder holds files this tool did not write; it is left untouched."""


def strip_code_solution(source: str, where: str = "cell") -> str:
    """Replace each marked solution block of a code cell by the stub, at the indentation of
    its ``### BEGIN SOLUTION`` line; unbalanced or nested markers raise a
    :class:`SolutionMarkerError` naming ``where`` and the line."""
    out, inside = [], False
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


def student_notebook(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Return a copy of ``nb`` with solutions stubbed out and every output cleared."""
    nb = nbformat.from_dict(nb)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.source = strip_code_solution(cell.source, f"{name}, cell {index}")
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("papermill", None)
            cell.metadata.pop("execution", None)
        elif cell.cell_type == "markdown":
            cell.source = MD_SOLUTION.sub("*Write your answer here.*", cell.source)
    nb.metadata.pop("papermill", None)
    return nb


def is_edition(folder: Path) -> bool:
    """Whether ``folder`` is an edition this module built (it holds the :data:`MARKER` file)."""
    return folder.is_dir() and not folder.is_symlink() and (folder / MARKER).is_file()


def _check_replaceable(output: Path) -> None:
    """Raise :class:`NotAnEditionError` unless ``output`` is absent, empty, or an edition."""
    how = (
        "Nothing was changed. Choose a new or empty folder with --output, or move that "
        "folder's contents away first."
    )
    if output.is_symlink() or (output.exists() and not output.is_dir()):
        kind = "a symbolic link" if output.is_symlink() else "a file"
        raise NotAnEditionError(f"refusing to write an edition to {output}: it is {kind}. {how}")
    if output.is_dir() and not is_edition(output) and any(output.iterdir()):
        raise NotAnEditionError(
            f"refusing to replace {output}: it is not empty and is not an edition built by "
            f"`python -m mnist_helpers.editions` (it has no {MARKER} file). {how}"
        )


def build_edition(edition: str, output: Path | None = None) -> list[Path]:
    """Write the ``"student"`` or ``"instructor"`` edition to ``output`` (default
    ``dist/<edition>``), which must be absent, empty or an earlier edition; return the
    notebooks written. Raises :class:`NotAnEditionError` (``output`` left untouched),
    ``ValueError`` (a course notebook is unreadable or its markers unbalanced) or ``OSError``.
    Taught in docs/teaching.md.
    """
    if edition not in ("student", "instructor"):
        raise ValueError(f"edition must be 'student' or 'instructor', got {edition!r}")
    root = project_root()
    output = Path(output or root / "dist" / edition).expanduser().absolute()
    _check_replaceable(output)
    with staged_folder(output) as tmp:
        written = []
        for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
            try:
                nb = nbformat.read(path, as_version=4)
            except (OSError, ValueError) as err:  # not JSON, not UTF-8, not a notebook
                raise ValueError(f"{path.name} cannot be read as a notebook: {err}") from None
            if edition == "student":
                nb = student_notebook(nb, path.name)
            nbformat.write(nb, tmp / path.name)
            written.append(output / path.name)
        for extra in EXTRAS:
            if (root / extra).is_dir():
                shutil.copytree(root / extra, tmp / extra)
        marker = {"edition": edition, "built_by": "python -m mnist_helpers.editions"}
        (tmp / MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
        _check_replaceable(output)  # again: it may have changed meanwhile
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m mnist_helpers.editions student|instructor [--output DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m mnist_helpers.editions")
    parser.add_argument("edition", choices=["student", "instructor"])
    parser.add_argument(
        "--output",
        type=Path,
        help="default: dist/<edition>; must be new, empty, or an edition built earlier",
    )
    args = parser.parse_args(argv)
    try:
        written = build_edition(args.edition, args.output)
    except NotAnEditionError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # its folder cannot be made or written: nothing was changed
        where = args.output or Path("dist") / args.edition
        reason = f"{err.strerror}: {err.filename}" if err.strerror and err.filename else err
        if isinstance(err, FileExistsError):  # mkdir met a file where a folder should be
            reason = f"{err.filename} is a file, not a folder"
        print(
            f"error: cannot write the {args.edition} edition to {where}: {reason}. "
            "Nothing was changed; choose a folder you can write with --output.",
            file=sys.stderr,
        )
        return 1
    except ValueError as err:  # a course notebook is broken: fix it, then build again
        print(f"error: {err}. Nothing was written.", file=sys.stderr)
        return 1
    print(f"{args.edition} edition: {len(written)} notebooks in {written[0].parent}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
