"""tools/try_page.py without a browser: the runtime fetched, verified and cut down to the files
the page uses (or the reason it is missing), and what the build says without a model."""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
from pathlib import Path

from mnist_helpers.paths import project_root

sys.path.insert(0, str(project_root() / "tools"))
import try_page  # noqa: E402  (tools/ is not a package)


def _tarball(tmp_path: Path, names: list[str]) -> tuple[Path, str]:
    """A stand-in for onnxruntime-web's npm tarball holding ``package/dist/<name>`` files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in names:
            data = f"// {name}\n".encode()
            member = tarfile.TarInfo(f"package/dist/{name}")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    path = tmp_path / "onnxruntime-web.tgz"
    path.write_bytes(buffer.getvalue())
    return path, hashlib.sha256(buffer.getvalue()).hexdigest()


def test_the_runtime_is_verified_and_only_the_files_the_page_loads_are_kept(tmp_path):
    source, sha = _tarball(tmp_path, [*try_page.ORT_FILES, "ort-wasm-simd-threaded.jsep.wasm"])
    dest, cache = tmp_path / "ort", tmp_path / "cache" / "ort.tgz"
    ok, message = try_page.vendor_onnxruntime(dest, source.as_uri(), sha, cache)
    assert ok, message
    assert sorted(p.name for p in dest.iterdir()) == sorted(try_page.ORT_FILES)
    assert "downloaded" in message and cache.is_file()
    ok, message = try_page.vendor_onnxruntime(dest, source.as_uri(), sha, cache)
    assert ok and "cached" in message


def test_a_wrong_checksum_or_a_missing_file_leaves_no_runtime_and_says_why(tmp_path):
    source, sha = _tarball(tmp_path, list(try_page.ORT_FILES[:2]))  # no .wasm in it
    dest = tmp_path / "ort"
    ok, message = try_page.vendor_onnxruntime(dest, source.as_uri(), "0" * 64, tmp_path / "a")
    assert not ok and "expected 000000000000" in message and "refused" in message, message
    assert try_page.RUNTIME_MISSING in message and not dest.exists()
    ok, message = try_page.vendor_onnxruntime(dest, source.as_uri(), sha, tmp_path / "b")
    assert not ok and "ort-wasm-simd-threaded.wasm" in message and not dest.exists()
    unreachable = "http://127.0.0.1:9/onnxruntime-web.tgz"
    ok, message = try_page.vendor_onnxruntime(dest, unreachable, sha, tmp_path / "c")
    assert not ok and try_page.RUNTIME_MISSING in message


def test_without_a_model_the_build_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(try_page, "vendor_onnxruntime", lambda dest: (False, "no runtime"))
    page = try_page.build_try_page(tmp_path / "_static")
    assert page.models == []
    assert any("make run" in line and "runs/default/model.keras" in line for line in page.lines)
    assert page.lines[-1].endswith("no model)"), page.lines[-1]
    manifest = json.loads((tmp_path / "_static" / "try" / "model.json").read_text())
    assert manifest["models"] == [] and "make run" in manifest["missing"]
    assert manifest["runtime"] is False
    shipped = {p.name for p in (tmp_path / "_static" / "try").iterdir()}
    assert {"try_model.js", "preprocess.js", "zip.js", "onnx_info.js", "digit_pad.js"} <= shipped
