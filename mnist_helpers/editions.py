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

Every edition holds a marker file, ``.mnist-edition``. A rebuild replaces only a folder that
has it (or an empty one), so ``--output`` pointed at a folder of your own by mistake refuses
rather than deleting it. The edition is built in a unique temporary folder beside the output
(``.<name>.<random>.partial``), removed if the build fails, and swapped in only when complete.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

from mnist_helpers.files import PARTIAL
from mnist_helpers.paths import project_root

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
MD_SOLUTION = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->", re.S)
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
#: The file that marks a folder as an edition built here (and so safe to replace).
MARKER = ".mnist-edition"
#: What an edition holds besides its marker: the notebooks, and these folders copied as is.
NOTEBOOK = re.compile(r"[0-9][0-9]_.*\.ipynb")
EXTRAS = ("samples", "sweeps")


class SolutionMarkerError(ValueError):
    """A cell's solution markers are unbalanced; the message names the cell."""


class NotAnEditionError(FileExistsError):
    """The output folder holds files this tool did not write; it is left untouched."""


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


def is_edition(folder: Path) -> bool:
    """Whether ``folder`` is an edition this module built (it holds the :data:`MARKER` file)."""
    return folder.is_dir() and not folder.is_symlink() and (folder / MARKER).is_file()


def _is_unmarked_edition(folder: Path) -> bool:
    """Whether ``folder`` holds only what an edition built before :data:`MARKER` held."""
    entries = list(folder.iterdir())
    notebooks = [e for e in entries if e.is_file() and NOTEBOOK.fullmatch(e.name)]
    extras = [e for e in entries if e.is_dir() and e.name in EXTRAS]
    return bool(notebooks) and len(notebooks) + len(extras) == len(entries)


def _check_replaceable(output: Path, default: bool = False) -> None:
    """Raise :class:`NotAnEditionError` unless ``output`` is absent, empty, or an edition.

    ``default``: ``output`` is the default ``dist/<edition>``, where an edition built before
    the marker existed (notebooks, ``samples/`` and ``sweeps/`` only) may be replaced too.
    """
    how = (
        "Nothing was changed. Choose a new or empty folder with --output, or move that "
        "folder's contents away first."
    )
    if output.is_symlink() or (output.exists() and not output.is_dir()):
        kind = "a symbolic link" if output.is_symlink() else "a file"
        raise NotAnEditionError(f"refusing to write an edition to {output}: it is {kind}. {how}")
    if default and output.is_dir() and _is_unmarked_edition(output):
        return
    if output.is_dir() and not is_edition(output) and any(output.iterdir()):
        raise NotAnEditionError(
            f"refusing to replace {output}: it is not empty and is not an edition built by "
            f"`python -m mnist_helpers.editions` (it has no {MARKER} file). {how}"
        )


def build_edition(edition: str, output: Path | None = None) -> list[Path]:
    """Write ``dist/<edition>/`` (``student`` or ``instructor``); return the notebooks written.

    The edition is built in a unique temporary folder beside ``output`` (removed if anything
    fails), marked with a :data:`MARKER` file, then put in place of ``output``.

    Args:
        edition: ``"student"`` or ``"instructor"``.
        output: the folder to write; default ``dist/<edition>`` in the project. It must be
            absent, empty, or an edition built earlier by this function, which it replaces.

    Raises:
        ValueError: ``edition`` is neither ``"student"`` nor ``"instructor"``, or a course
            notebook cannot be read or has unbalanced solution markers.
        NotAnEditionError: ``output`` is a file, or a non-empty folder without the marker;
            it is left untouched.
        OSError: ``output`` (or its folder) cannot be made or written.

    Taught in docs/teaching.md.
    """
    if edition not in ("student", "instructor"):
        raise ValueError(f"edition must be 'student' or 'instructor', got {edition!r}")
    root = project_root()
    default = (root / "dist" / edition).absolute()
    output = Path(output).expanduser().absolute() if output else default
    _check_replaceable(output, default=output == default)
    output.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=PARTIAL, dir=output.parent))
    try:
        tmp = work / output.name  # made by mkdir, so it gets the usual permissions
        tmp.mkdir()
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
        _check_replaceable(output, output == default)  # again: it may have changed meanwhile
        previous = work / "previous"
        if output.exists():
            output.rename(previous)
        try:
            tmp.rename(output)
        except BaseException:
            if previous.exists() and not output.exists():
                previous.rename(output)
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
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
