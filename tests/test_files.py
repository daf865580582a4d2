"""Tests of mnist_helpers.files: atomic writes leave either the old file or the new one."""

from __future__ import annotations

import os

import pytest

from mnist_helpers.files import PARTIAL, atomic_path, write_bytes_atomic, write_text_atomic


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
