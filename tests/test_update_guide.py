"""tools/update_guide.py: the teaching guide's runtime table and the notebooks' time lines."""

from __future__ import annotations

import shlex
import shutil
import subprocess

import nbformat
import pytest

from mnist_helpers.paths import project_root
from tools import update_guide

MAKE = shutil.which("make")  # found before the tests' sandbox empties PATH


def make_executed(folder, name, seconds, parameters=None, devices="2 CPU cores, no GPU"):
    nb = nbformat.v4.new_notebook()
    setup = nbformat.v4.new_code_cell("check_env()")
    setup.outputs = [nbformat.v4.new_output("stream", text=f"python  3.11\ndevices  {devices}\n")]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name[:2]} · A title\n\nText."), setup]
    nb.metadata["course"] = {
        "objectives": ["do one thing", "do another"],
        "minutes": {"teaching": 30, "exercises": 15},
    }
    nb.metadata["papermill"] = {"duration": seconds, "parameters": parameters or {}}
    nbformat.write(nb, folder / name)
    return folder / name


def test_runtime_table_reads_papermill_times_and_the_plan(tmp_path):
    make_executed(tmp_path, "01_a.ipynb", 9.2)
    make_executed(tmp_path, "02_b.ipynb", 123.4, {"profile": "smoke"})
    rows = update_guide.runtime_table(tmp_path)
    assert [r["notebook"] for r in rows] == ["01_a.ipynb", "02_b.ipynb"]
    assert rows[1]["parameters"] == "profile='smoke'" and rows[0]["parameters"] == "defaults"
    assert rows[0]["machine"] == "2 CPU cores, no GPU"

    markdown = update_guide.runtime_markdown(rows)
    first_row = "| [01 · A title](../notebooks/01_a.ipynb) | 30 min | 15 min | 9 s | defaults |"
    assert first_row in markdown
    assert "| 2 min 3 s |" in markdown
    assert "| **all** | 60 min | 30 min | 2 min 13 s | |" in markdown
    assert "- do another" in markdown


def test_runtime_table_reads_the_devices_of_check_envs_one_line_summary(tmp_path):
    path = make_executed(tmp_path, "01_a.ipynb", 9.2)
    nb = nbformat.read(path, as_version=4)
    line = "environment OK: Python 3.11.7, TensorFlow 2.21.0, Keras 3.15.1; devices: 16 CPU cores"
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text=line + "\n")]
    nbformat.write(nb, path)
    assert update_guide.runtime_table(tmp_path)[0]["machine"] == "16 CPU cores"


def test_a_notebook_never_run_headlessly_is_named(tmp_path, capsys):
    path = make_executed(tmp_path, "01_a.ipynb", 5.0)
    nb = nbformat.read(path, as_version=4)
    del nb.metadata["papermill"]
    nbformat.write(nb, path)
    with pytest.raises(ValueError, match="01_a.ipynb has no recorded run time"):
        update_guide.runtime_table(tmp_path)
    assert update_guide.main(["--from", str(tmp_path)]) == 1
    assert "make notebooks" in capsys.readouterr().err


def test_update_guide_replaces_only_the_marked_part(tmp_path):
    start, end = update_guide.GUIDE_START, update_guide.GUIDE_END
    guide = tmp_path / "guide.md"
    guide.write_text(f"# Guide\n\n{start}\nold\n{end}\n\nMore.\n")
    assert update_guide.update_guide(guide, "new table\n") is True
    assert guide.read_text() == f"# Guide\n\n{start}\nnew table\n{end}\n\nMore.\n"
    assert update_guide.update_guide(guide, "new table\n") is False
    guide.write_text("no markers")
    with pytest.raises(ValueError, match="lacks the markers"):
        update_guide.update_guide(guide, "x")


def test_the_teaching_guide_shows_the_committed_notebooks_real_run_times():
    guide = (project_root() / "docs" / "teaching.md").read_text()
    shown = guide.split(update_guide.GUIDE_START)[1].split(update_guide.GUIDE_END)[0]
    expected = update_guide.runtime_markdown(update_guide.runtime_table())
    assert shown.strip() == expected.strip(), "out of date: run `make guide` and commit"


def test_time_lines_are_generated_from_the_plan_and_the_run_and_replace_only_their_line(
    tmp_path,
):
    path = make_executed(tmp_path, "01_a.ipynb", 123.4)
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = "# 01 · A title\n\n**Time:** old guess.\nNeeds: nothing."
    nbformat.write(nb, path)
    rows = update_guide.runtime_table(tmp_path)
    assert update_guide.update_time_lines(rows, tmp_path) == [path]
    source = nbformat.read(path, as_version=4).cells[0].source
    assert source.splitlines()[2] == (
        "**Time:** about 45 minutes in class (30 teaching, 15 exercises); running every cell "
        "took the computer 2 min 3 s (2 CPU cores, no GPU; all notebooks: docs/teaching.md)."
    )
    assert source.splitlines()[3] == "Needs: nothing."
    assert update_guide.update_time_lines(rows, tmp_path) == []  # already up to date
    # outputs from other parameters than the notebook's defaults (make notebooks' full
    # profile for 07 and 08) say so
    rows[0]["parameters"] = "profile='full'"
    assert update_guide.time_line(rows[0]) == (
        "**Time:** about 45 minutes in class (30 teaching, 15 exercises); running every cell "
        "with profile='full', as for the outputs below, took the computer 2 min 3 s "
        "(2 CPU cores, no GPU; all notebooks: docs/teaching.md)."
    )


def test_a_notebook_without_a_time_line_is_an_error_naming_it(tmp_path):
    make_executed(tmp_path, "01_a.ipynb", 9.0)
    with pytest.raises(ValueError, match=r"01_a.ipynb: its first cell needs one line starting"):
        update_guide.update_time_lines(update_guide.runtime_table(tmp_path), tmp_path)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--from", "missing"], "no executed notebooks (NN_*.ipynb) in"),
        (["--from", "empty"], "no executed notebooks (NN_*.ipynb) in"),
        (["--from", "corrupt"], "01_a.ipynb cannot be read as a notebook"),
        (["--update", "missing.md"], "cannot update missing.md"),
        (["--update", "no-markers.md"], "lacks the markers"),
        (["--update", "latin-1.md"], "it is not UTF-8 text"),
    ],
)
def test_a_missing_or_unfit_folder_or_guide_is_named_and_nothing_changes(
    args, expected, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "01_a.ipynb").write_text("{")
    (tmp_path / "no-markers.md").write_text("# a guide without the markers\n")
    (tmp_path / "latin-1.md").write_bytes(
        f"{update_guide.GUIDE_START}\n\xe9\n{update_guide.GUIDE_END}\n".encode("latin-1")
    )
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert update_guide.main(args) == 1
    captured = capsys.readouterr()
    assert expected in captured.err and "Traceback" not in captured.err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("target", ["guide", "notebooks"])
def test_make_guide_and_make_notebooks_update_the_teaching_guide_with_the_tool(target):
    """What `make -n` would run: this tool, writing into docs/teaching.md (which has the
    markers it needs)."""
    if MAKE is None:
        pytest.skip("make is not installed")
    done = subprocess.run(
        [MAKE, "-n", target], cwd=project_root(), capture_output=True, text=True, check=True
    )
    calls = [shlex.split(line) for line in done.stdout.splitlines() if "update_guide" in line]
    assert len(calls) == 1, done.stdout
    script, *args = calls[0][1:]
    assert (project_root() / script).resolve() == project_root() / "tools" / "update_guide.py"
    assert args == ["--update", "docs/teaching.md"]
    guide = (project_root() / args[1]).read_text()
    assert update_guide.GUIDE_START in guide and update_guide.GUIDE_END in guide


# ----------------------------------------------------------------------------- quoted numbers


def _printing(folder, name, seconds, text):
    path = make_executed(folder, name, seconds)
    nb = nbformat.read(path, as_version=4)
    cell = nbformat.v4.new_code_cell("print(...)")
    cell.outputs = [nbformat.v4.new_output("stream", text=text)]
    nb.cells.append(cell)
    nbformat.write(nb, path)


def test_facts_are_read_from_the_outputs_the_run_times_and_the_lesson_plan(tmp_path):
    _printing(tmp_path, "04_t.ipynb", 183.0, "test accuracy:  99.41%\ntraining time:  61 s on 2\n")
    _printing(
        tmp_path,
        "08_g.ipynb",
        977.0,
        "its test accuracy: 99.60% (40 mistakes)\nseeds 44; 300 s of training in all\n",
    )
    make_executed(tmp_path, "07_s.ipynb", 475.0)
    _printing(
        tmp_path,
        "06_y.ipynb",
        36.0,
        "             1 image (ms)  10,000 images (ms)  1 image: times faster\n"
        "runtime\nkeras (Predictor)   0.950   353.987   1.000\n"
        "litert   0.045   325.472   21.146\nonnx   0.078   310.092   12.253\n",
    )
    guide = tmp_path / "guide.md"
    guide.write_text("| session | x |\n|---|---|\n| 1 · Data | a |\n| 2 · More | b |\n")
    known = update_guide.facts(tmp_path, guide)
    assert known == {
        "default_accuracy": "99.41 %",
        "default_mistakes": "59",
        "default_seconds": "61 s",
        "litert06_speedup": "21 times",
        "onnx06_speedup": "12 times",
        "best08_accuracy": "99.60 %",
        "best08_seconds": "300 s",
        "notebooks_minutes": "28 minutes",
        "minutes08": "16 minutes",
        "minutes07": "8 minutes",
        "sessions": "two",
    }
    quoted = "in <!--fact:default_seconds-->56 s<!--/fact--> (<!--fact:sessions-->six<!--/fact-->)"
    assert update_guide.update_facts(quoted, known) == (
        "in <!--fact:default_seconds-->61 s<!--/fact--> (<!--fact:sessions-->two<!--/fact-->)"
    )
    with pytest.raises(ValueError, match="README.md: unknown fact 'nope'"):
        update_guide.update_facts("<!--fact:nope-->1<!--/fact-->", known, "README.md")
    _printing(tmp_path, "04_t.ipynb", 1.0, "the printout changed\n")
    with pytest.raises(ValueError, match=r"04: no output matches .*change tools/update_guide"):
        update_guide.facts(tmp_path, guide)


def test_every_quoted_number_agrees_with_its_source():
    """README, guide and notebooks' text: a number quoted with <!--fact:...--> is the one in
    the committed notebooks (make guide writes them; commit the result)."""
    known = update_guide.facts()
    texts = {name: (project_root() / name).read_text() for name in update_guide.QUOTING_FILES}
    for path in update_guide.notebook_paths():
        cells = nbformat.read(path, as_version=4).cells
        texts[path.name] = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    for name, text in texts.items():
        assert update_guide.update_facts(text, known, name) == text, f"{name}: run `make guide`"
    quotes = [q for text in texts.values() for q in update_guide.FACT.findall(text)]
    assert set(known) <= {name for name, _ in quotes}, "every fact is quoted somewhere"


def test_the_lesson_plan_fits_90_minute_sessions_and_adds_up_to_the_notebooks_plans():
    """Each session of docs/teaching.md's plan: its minutes at most 90, and no fewer than its
    notebooks' planned teaching and exercise minutes nor more than that plus 5 minutes of
    class-sized compute per notebook (a notebook split over sessions counts once, over the
    sessions that share it)."""
    sessions = update_guide.lesson_plan()
    assert len(sessions) >= 6
    assert all(minutes <= 90 for _, minutes in sessions), sessions
    plans = {}
    for row in update_guide.runtime_table():
        plans[row["notebook"][:2]] = row["teaching"] + row["exercises"]
    groups: list[tuple[set, int]] = []  # sessions that share a notebook are summed together
    for notebooks, minutes in sessions:
        shared = [g for g in groups if g[0] & set(notebooks)]
        merged = (
            set(notebooks).union(*(g[0] for g in shared)),
            minutes + sum(g[1] for g in shared),
        )
        groups = [g for g in groups if g not in shared] + [merged]
    assert set().union(*(g[0] for g in groups)) == set(plans), "every notebook has a session"
    for notebooks, minutes in groups:
        planned = sum(plans[n] for n in notebooks)
        assert planned <= minutes <= planned + 5 * len(notebooks), (sorted(notebooks), minutes)
