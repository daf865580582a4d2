"""Write the notebooks' run times into docs/teaching.md's table and each notebook's time line,
and every quoted number into the README, the guide and the notebooks' text.

Usage (``make guide``; ``make notebooks`` runs it after re-executing the notebooks):

    .venv/bin/python tools/update_guide.py --update docs/teaching.md  # the committed notebooks
    .venv/bin/python tools/update_guide.py --from runs/notebooks      # print your `make run`'s

The times are those papermill recorded in each executed notebook; the class minutes and the
objectives come from the notebook's ``course`` metadata. A quoted number is written
``<!--fact:NAME-->99.46 %<!--/fact-->`` (Markdown shows only the number); :func:`facts` says
where each one comes from: a committed notebook's output, its recorded run time, or the
guide's lesson plan. ``tests/test_update_guide.py`` fails when a quote and its source disagree.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

from mnist_helpers.course import notebook_paths
from mnist_helpers.files import write_text_atomic
from mnist_helpers.paths import project_root

GUIDE_START, GUIDE_END = "<!-- runtimes:start -->", "<!-- runtimes:end -->"
TIME_PREFIX = "**Time:**"


def minutes(seconds: float) -> str:
    """123.4 -> '2 min 3 s'; 9.2 -> '9 s'."""
    whole, rest = divmod(round(seconds), 60)
    return f"{whole} min {rest} s" if whole else f"{rest} s"


def devices(nb: nbformat.NotebookNode) -> str:
    """The devices ``check_env()`` printed in the notebook's setup cell (its one-line summary
    ``...; devices: 2 CPU cores, no GPU`` or its table's ``devices`` row)."""
    for cell in nb.cells[:3]:
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines():
                if line.startswith("environment OK:") and "; devices: " in line:
                    return line.split("; devices: ", 1)[1].strip()
                if line.startswith("devices"):
                    return line.removeprefix("devices").strip()
    return "unknown machine"


def runtime_table(folder: Path | None = None) -> list[dict]:
    """One row per executed notebook of ``folder`` (default: the committed ``notebooks/``).

    A row: ``notebook``, ``title``, ``objectives``, the planned ``teaching`` and ``exercises``
    minutes, and the last headless run's ``seconds``, ``parameters`` and ``machine``.
    Raises ``ValueError`` for no notebook, one that cannot be read or was never run headlessly.
    """
    paths = sorted(Path(folder).glob("[0-9][0-9]_*.ipynb")) if folder else notebook_paths()
    if not paths:
        raise ValueError(
            f"no executed notebooks (NN_*.ipynb) in {folder or project_root() / 'notebooks'} "
            "(make run writes them to runs/notebooks)"
        )
    rows = []
    for path in paths:
        try:
            nb = nbformat.read(path, as_version=4)
        except (OSError, ValueError) as err:  # not JSON, not UTF-8, not a notebook
            raise ValueError(f"{path} cannot be read as a notebook: {err}") from None
        record = nb.metadata.get("papermill", {})
        if record.get("duration") is None:
            raise ValueError(
                f"{path} has no recorded run time: run it headlessly first "
                "(make notebooks, or make run for runs/notebooks/)"
            )
        plan = nb.metadata.get("course", {})
        parameters = record.get("parameters") or {}
        rows.append(
            {
                "notebook": path.name,
                "title": nb.cells[0].source.splitlines()[0].lstrip("# ").strip(),
                "objectives": plan.get("objectives", []),
                "teaching": plan.get("minutes", {}).get("teaching"),
                "exercises": plan.get("minutes", {}).get("exercises"),
                "seconds": float(record["duration"]),
                "parameters": ", ".join(f"{k}={v!r}" for k, v in parameters.items()) or "defaults",
                "machine": devices(nb),
            }
        )
    return rows


def lesson_plan(guide: Path | None = None) -> list[tuple[list[str], int]]:
    """The sessions of the guide's (``docs/teaching.md``) lesson plan, in order: each one's
    notebooks (``["04"]``) and minutes. Raises ``ValueError`` if the guide has no plan."""
    text = (guide or project_root() / "docs" / "teaching.md").read_text(encoding="utf-8")
    if "## A lesson plan" not in text:
        raise ValueError("the guide has no '## A lesson plan' section")
    plan = text.split("## A lesson plan", 1)[1].split("\nTiming tips:", 1)[0]
    sessions = []
    for line in plan.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[2].isdigit():
            sessions.append((re.findall(r"\b(0\d)\b", cells[1]), int(cells[2])))
    return sessions


def compute_allowances(guide: Path | None = None) -> dict[str, int]:
    """Minutes of computer time the lesson plan leaves each notebook that has a session of
    its own: the session's minutes less the notebook's planned teaching and exercises
    (``{"04": 4}``). What Run All on its class-sized defaults may take in class."""
    plans = {row["notebook"][:2]: row["teaching"] + row["exercises"] for row in runtime_table()}
    return {
        notebooks[0]: minutes - plans[notebooks[0]]
        for notebooks, minutes in lesson_plan(guide)
        if len(notebooks) == 1 and notebooks[0] in plans
    }


def runtime_markdown(rows: list[dict]) -> str:
    """The guide's generated part: the runtime table, then what each notebook teaches."""
    machines = " / ".join(sorted({row["machine"] for row in rows}))
    lines = [
        f"Measured by `tools/update_guide.py` on {machines}: each notebook's headless run "
        "(papermill) with the parameters shown.",
        "",
        "| notebook | teaching | exercises | headless run | parameters |",
        "|---|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| [{row['title']}](../notebooks/{row['notebook']}) | {row['teaching']} min "
            f"| {row['exercises']} min | {minutes(row['seconds'])} | {row['parameters']} |"
        )
    teaching = sum(row["teaching"] or 0 for row in rows)
    exercises = sum(row["exercises"] or 0 for row in rows)
    total = minutes(sum(row["seconds"] for row in rows))
    lines += [f"| **all** | {teaching} min | {exercises} min | {total} | |", ""]
    for row in rows:
        lines.append(f"**{row['title']}**: students learn to")
        lines += [f"- {objective}" for objective in row["objectives"]]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def time_line(row: dict) -> str:
    """A notebook's ``**Time:**`` line: class minutes from its plan, computer time from its
    last headless run (the same row as the guide's table, so the two never disagree)."""
    teaching, exercises = row["teaching"] or 0, row["exercises"] or 0
    parameters = row["parameters"]
    how = "" if parameters == "defaults" else f" with {parameters}, as for the outputs below,"
    return (
        f"{TIME_PREFIX} about {teaching + exercises} minutes in class ({teaching} teaching, "
        f"{exercises} exercises); running every cell{how} took the computer "
        f"{minutes(row['seconds'])} ({row['machine']}; all notebooks: docs/teaching.md)."
    )


def update_time_lines(rows: list[dict], folder: Path | None = None) -> list[Path]:
    """Write each row's :func:`time_line` over the ``**Time:**`` line of its notebook's first
    cell (outputs and metadata untouched); return the notebooks that changed."""
    folder = Path(folder) if folder else project_root() / "notebooks"
    changed = []
    for row in rows:
        path = folder / row["notebook"]
        nb = nbformat.read(path, as_version=4)
        lines = nb.cells[0].source.split("\n")
        where = [i for i, line in enumerate(lines) if line.startswith(TIME_PREFIX)]
        if len(where) != 1:
            raise ValueError(f"{path}: its first cell needs one line starting with {TIME_PREFIX}")
        if lines[where[0]] == time_line(row):
            continue
        lines[where[0]] = time_line(row)
        nb.cells[0].source = "\n".join(lines)
        write_text_atomic(path, nbformat.writes(nb) + "\n")
        changed.append(path)
    return changed


def update_guide(guide: Path, markdown: str) -> bool:
    """Replace the part of ``guide`` between the runtimes markers; return whether it changed.

    Raises ``ValueError`` if ``guide`` cannot be read as UTF-8 text or lacks the markers.
    """
    try:
        text = guide.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = "it is not UTF-8 text" if isinstance(err, UnicodeDecodeError) else err.strerror
        raise ValueError(f"cannot update {guide}: {reason}") from None
    if GUIDE_START not in text or GUIDE_END not in text:
        raise ValueError(f"{guide} lacks the markers {GUIDE_START} and {GUIDE_END}")
    head, rest = text.split(GUIDE_START, 1)
    new = f"{head}{GUIDE_START}\n{markdown}{GUIDE_END}{rest.split(GUIDE_END, 1)[1]}"
    if new == text:
        return False
    write_text_atomic(guide, new)
    return True


FACT = re.compile(r"<!--fact:([a-z0-9_]+)-->(.*?)<!--/fact-->", re.DOTALL)
NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()
#: The files whose quoted numbers :func:`update_facts` keeps true (and the notebooks' headers).
QUOTING_FILES = ("README.md", "docs/teaching.md")


def printed(nb: nbformat.NotebookNode) -> str:
    """Everything ``nb``'s code cells printed (streams and plain-text results)."""
    return "".join(
        str(o.get("text") or o.get("data", {}).get("text/plain", "")) + "\n"
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
    )


def _found(pattern: str, text: str, where: str) -> re.Match:
    match = re.search(pattern, text)
    if match is None:
        raise ValueError(
            f"{where}: no output matches {pattern!r}; the notebook's printout changed, so "
            "change tools/update_guide.py's facts() to read the new one"
        )
    return match


def facts(folder: Path | None = None, guide: Path | None = None) -> dict[str, str]:
    """The numbers the README, the guide and the notebooks' headers quote, each read from its
    source: 04's, 06's and 08's printed results, every notebook's recorded run time (``make
    notebooks``), and the number of sessions in ``guide``'s lesson plan."""
    folder = Path(folder) if folder else project_root() / "notebooks"
    notebooks = {p.name[:2]: nbformat.read(p, as_version=4) for p in folder.glob("0[0-9]_*.ipynb")}
    out04, out06, out08 = (printed(notebooks[n]) for n in ("04", "06", "08"))
    accuracy = float(_found(r"test accuracy:\s+([\d.]+)%", out04, "04").group(1))
    seconds = int(_found(r"training time:\s+(\d+) s", out04, "04").group(1))
    best = _found(r"its test accuracy: ([\d.]+)%", out08, "08")
    best_seconds = int(_found(r"(\d+) s of training in all", out08, "08").group(1))
    one_image = {  # 06's speed table: how many times faster than Keras on one image
        engine: float(_found(rf"(?m)^{engine}\s+[\d.]+\s+[\d.]+\s+([\d.]+)\s*$", out06, "06")[1])
        for engine in ("litert", "onnx")
    }
    durations = {k: float(nb.metadata["papermill"]["duration"]) for k, nb in notebooks.items()}
    guide = Path(guide) if guide else project_root() / "docs" / "teaching.md"
    sessions = len(re.findall(r"^\| \d+ · ", guide.read_text(encoding="utf-8"), re.MULTILINE))
    return {
        "default_accuracy": f"{accuracy:.2f} %",
        "default_mistakes": f"{round(10_000 * (100 - accuracy) / 100)}",
        "default_seconds": f"{seconds} s",
        "litert06_speedup": f"{one_image['litert']:.0f} times",
        "onnx06_speedup": f"{one_image['onnx']:.0f} times",
        "best08_accuracy": f"{float(best.group(1)):.2f} %",
        "best08_seconds": f"{best_seconds} s",
        "notebooks_minutes": f"{round(sum(durations.values()) / 60)} minutes",
        "minutes08": f"{round(durations['08'] / 60)} minutes",
        "minutes07": f"{round(durations['07'] / 60)} minutes",
        "sessions": NUMBER_WORDS[sessions] if sessions < len(NUMBER_WORDS) else str(sessions),
    }


def update_facts(text: str, known: dict[str, str], where: str = "text") -> str:
    """``text`` with every ``<!--fact:NAME-->...<!--/fact-->`` quote set to ``known[NAME]``;
    ``ValueError`` for a name that :func:`facts` does not know."""

    def quote(match: re.Match) -> str:
        name = match.group(1)
        if name not in known:
            raise ValueError(f"{where}: unknown fact {name!r}; known: {sorted(known)}")
        return f"<!--fact:{name}-->{known[name]}<!--/fact-->"

    return FACT.sub(quote, text)


def update_quotes(known: dict[str, str]) -> list[Path]:
    """Set every quoted number in :data:`QUOTING_FILES` and the notebooks' markdown cells to
    its source (outputs untouched); return the files that changed."""
    changed = []
    for name in QUOTING_FILES:
        path = project_root() / name
        text = path.read_text(encoding="utf-8")
        new = update_facts(text, known, name)
        if new != text:
            write_text_atomic(path, new)
            changed.append(path)
    for path in notebook_paths():
        nb = nbformat.read(path, as_version=4)
        edited = False
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                new = update_facts(cell.source, known, path.name)
                edited |= new != cell.source
                cell.source = new
        if edited:
            write_text_atomic(path, nbformat.writes(nb) + "\n")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/update_guide.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--from",
        dest="source",
        type=Path,
        help="read the executed notebooks in this folder (default: notebooks/)",
    )
    parser.add_argument("--update", type=Path, help="write the table into this guide")
    args = parser.parse_args(argv)
    try:
        rows = runtime_table(args.source)
        markdown = runtime_markdown(rows)
        if not args.update:
            print(markdown)
            return 0
        changed = update_guide(args.update, markdown)
        print(f"{args.update}: {'updated' if changed else 'already up to date'}")
        if args.source is None:  # the committed notebooks: their time lines too
            for path in update_time_lines(rows):
                print(f"{path.name}: time line updated")
            for path in update_quotes(facts(guide=args.update)):
                print(f"{path.name}: quoted numbers updated")
    except (OSError, ValueError) as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
