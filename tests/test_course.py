"""The course runner's bookkeeping: runtime tables for the teaching guide, tidy metadata."""

from __future__ import annotations

import nbformat
import pytest

from mnist_helpers import course
from mnist_helpers.paths import project_root


def make_executed(folder, name, seconds, parameters=None, devices="2 CPU cores, no GPU"):
    nb = nbformat.v4.new_notebook()
    setup = nbformat.v4.new_code_cell("check_env()")
    setup.outputs = [nbformat.v4.new_output("stream", text=f"python  3.11\ndevices  {devices}\n")]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {name[:2]} · A title\n\nText."), setup]
    nb.metadata["course"] = {
        "objectives": ["do one thing", "do another"],
        "minutes": {"teaching": 30, "exercises": 15},
    }
    nb.metadata["papermill"] = {
        "duration": seconds,
        "parameters": parameters or {},
        "input_path": "/home/someone/course/notebooks/x.ipynb",
        "output_path": "/home/someone/course/notebooks/x.ipynb",
    }
    nbformat.write(nb, folder / name)
    return folder / name


def test_runtime_table_reads_papermill_times_and_the_plan(tmp_path):
    make_executed(tmp_path, "01_a.ipynb", 9.2)
    make_executed(tmp_path, "02_b.ipynb", 123.4, {"profile": "smoke"})
    rows = course.runtime_table(tmp_path)
    assert [r["notebook"] for r in rows] == ["01_a.ipynb", "02_b.ipynb"]
    assert rows[1]["parameters"] == "profile='smoke'" and rows[0]["parameters"] == "defaults"
    assert rows[0]["machine"] == "2 CPU cores, no GPU"
    markdown = course.runtime_markdown(rows)
    first_row = "| [01 · A title](../notebooks/01_a.ipynb) | 30 min | 15 min | 9 s | defaults |"
    assert first_row in markdown
    assert "| 2 min 3 s |" in markdown
    assert "| **all** | 60 min | 30 min | 2 min 13 s | |" in markdown
    assert "- do another" in markdown


def test_a_notebook_never_run_headlessly_is_named(tmp_path, capsys):
    path = make_executed(tmp_path, "01_a.ipynb", 5.0)
    nb = nbformat.read(path, as_version=4)
    del nb.metadata["papermill"]
    nbformat.write(nb, path)
    with pytest.raises(ValueError, match="01_a.ipynb has no recorded run time"):
        course.runtime_table(tmp_path)
    assert course.main(["runtimes", "--from", str(tmp_path)]) == 1
    assert "make notebooks" in capsys.readouterr().err


def test_update_guide_replaces_only_the_marked_part(tmp_path):
    guide = tmp_path / "guide.md"
    guide.write_text(f"# Guide\n\n{course.GUIDE_START}\nold\n{course.GUIDE_END}\n\nMore.\n")
    assert course.update_guide(guide, "new table\n") is True
    assert guide.read_text() == (
        f"# Guide\n\n{course.GUIDE_START}\nnew table\n{course.GUIDE_END}\n\nMore.\n"
    )
    assert course.update_guide(guide, "new table\n") is False
    guide.write_text("no markers")
    with pytest.raises(ValueError, match="lacks the markers"):
        course.update_guide(guide, "x")


def test_the_teaching_guide_shows_the_committed_notebooks_real_run_times():
    guide = (project_root() / "docs" / "teaching.md").read_text()
    shown = guide.split(course.GUIDE_START)[1].split(course.GUIDE_END)[0]
    expected = course.runtime_markdown(course.runtime_table())
    assert shown.strip() == expected.strip(), "out of date: run `make guide` and commit"


def test_executed_notebooks_keep_no_local_paths(tmp_path):
    path = make_executed(tmp_path, "01_a.ipynb", 5.0)
    course._drop_local_paths(path)
    record = nbformat.read(path, as_version=4).metadata["papermill"]
    assert "input_path" not in record and "output_path" not in record
    assert record["duration"] == 5.0
    for committed in course.notebook_paths():
        record = nbformat.read(committed, as_version=4).metadata.get("papermill", {})
        assert "input_path" not in record, f"{committed.name} records a local path"
