"""Tests of mnist_helpers.files: atomic writes leave either the old file (or folder) or the
new one; read_yaml reads plain YAML and refuses the rest."""

from __future__ import annotations

import os
import re

import pytest

from mnist_helpers.files import (
    PARTIAL,
    atomic_path,
    read_yaml,
    staged_folder,
    write_bytes_atomic,
    write_text_atomic,
)


def test_atomic_path_renames_on_success_and_keeps_the_suffix(tmp_path):
    target = tmp_path / "deep" / "figure.png"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".png" and PARTIAL in tmp.name
        tmp.write_bytes(b"png")
        assert not target.exists()
    assert target.read_bytes() == b"png"
    assert os.listdir(target.parent) == ["figure.png"]


def test_a_failure_removes_the_temporary_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_two_writers_of_one_file_get_different_temporary_files(tmp_path):
    with atomic_path(tmp_path / "a.csv") as first, atomic_path(tmp_path / "a.csv") as second:
        assert first != second
        first.write_text("1")
        second.write_text("2")
    assert (tmp_path / "a.csv").read_text() == "1"  # the last rename wins, whole
    assert os.listdir(tmp_path) == ["a.csv"]


def test_new_files_get_the_permissions_the_umask_allows(tmp_path):
    old = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "shared", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "shared").stat().st_mode & 0o777 == 0o644


def test_write_text_atomic_writes_utf8(tmp_path):
    path = write_text_atomic(tmp_path / "t.md", "99.4 % · ok")
    assert path.read_bytes() == "99.4 % · ok".encode()


def test_a_staged_folder_replaces_the_old_one_whole_or_not_at_all(tmp_path):
    old = tmp_path / "run"
    old.mkdir()
    (old / "model.keras").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with staged_folder(old) as new:
            (new / "model.keras").write_text("half")
            assert new.parent == tmp_path and PARTIAL in new.name
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == ["run"] and (old / "model.keras").read_text() == "old"
    with staged_folder(old) as new:
        (new / "metrics.json").write_text("new")
        assert (old / "model.keras").read_text() == "old"  # until the block succeeds
    assert os.listdir(tmp_path) == ["run"] and os.listdir(old) == ["metrics.json"]
    with staged_folder(tmp_path / "deep" / "edition") as new:  # no old one, no folder yet
        (new / "a.ipynb").write_text("{}")
    assert os.listdir(tmp_path / "deep") == ["edition"]


# --- read_yaml: the course's parameter files and sweep grids ---------------------------


def _yaml(tmp_path, text: str | bytes, name: str = "grid.yaml"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_read_yaml_reads_plain_values(tmp_path):
    path = _yaml(tmp_path, "epochs: 3\nseeds: [1, 2]\nfixed: {profile: smoke}\n")
    assert read_yaml(path) == {"epochs": 3, "seeds": [1, 2], "fixed": {"profile": "smoke"}}
    assert read_yaml(_yaml(tmp_path, "", "empty.yaml")) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: [1, 2\n", "line 2: expected ','"),
        ("a: !!python/object/apply:os.system ['echo hi']\n", "line 1: could not determine"),
        ("a: !custom 3\n", "'!custom'"),
        # the "billion laughs": nine levels of ten aliases would be a billion strings
        ('a: &a ["x", "x"]\nb: &b [*a, *a]\nc: [*b, *b]\n', "anchors (&name) and aliases"),
        ("a: 1\nb: *x\n", "line 2: anchors (&name) and aliases"),
        (b"\xff\xfe epochs: 3", "it is not UTF-8 text"),
        ("fixed:\n  seed: 1\nfixed:\n  epochs: 2\n", "line 3: 'fixed' is given twice"),
    ],
    ids=["syntax", "python-tag", "custom-tag", "alias-bomb", "alias", "not-utf8", "twice"],
)
def test_read_yaml_refuses_what_is_not_plain_yaml(tmp_path, text, expected):
    path = _yaml(tmp_path, text)
    with pytest.raises(ValueError, match=re.escape(expected)) as err:
        read_yaml(path, "grid file")
    assert str(path) in str(err.value)


def test_read_yaml_refuses_missing_folder_and_huge_files(tmp_path):
    with pytest.raises(ValueError, match="No such file"):
        read_yaml(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="it is not a file"):
        read_yaml(tmp_path)
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as f:
        f.truncate(2 * 1024**3)  # sparse: no disk, and never read
    with pytest.raises(ValueError, match="more than the 65,536 allowed"):
        read_yaml(huge)
