"""Shared fixtures: tiny synthetic MNIST files, and a sandbox that keeps tests off the network.

Tests marked ``real_data`` run offline (``MNIST_OFFLINE=1``) on the files ``make data``
cached; without them they are skipped, or fail under CI (``CI`` set), never reaching the
network. Every other test runs with:

* ``MNIST_CACHE_DIR`` pointing at an empty temporary folder, ``MNIST_DATA_DIR`` and
  ``MNIST_OFFLINE`` unset;
* the download URLs pointing at a closed port on 127.0.0.1, so nothing leaves this machine;
* ``PATH`` holding only an empty ``bin`` folder (where a test may put a fake ``npm``) and the
  folder of the running Python, so the real ``npm`` is never found.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from browsing import HOW_TO_GET_IT, chromium_path, static_server, unavailable

import mnist_helpers.download as download
from mnist_helpers.idx import encode_idx
from mnist_helpers.paths import project_root

#: Addresses on the loopback interface where nothing listens (port 9, "discard").
UNREACHABLE_NPZ_URL = "http://127.0.0.1:9/mnist.npz"
UNREACHABLE_MIRROR = "http://127.0.0.1:9/"

IMAGE_NAMES = ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte")
LABEL_NAMES = ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte")


def make_mnist_arrays(n_train: int = 200, n_test: int = 50, seed: int = 0) -> dict[str, np.ndarray]:
    """Tiny MNIST look-alike: distinct random 28x28 uint8 images, labels 0-9 balanced."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[:, 0, 0] = 0  # every image spans the full 0..255 range of values
        images[:, 0, 1] = 255
        images[:, 1, :4] = np.arange(n, dtype=">u4").view(np.uint8).reshape(n, 4)  # unique
        arrays[f"{split}-images-idx3-ubyte"] = images
        arrays[f"{split}-labels-idx1-ubyte"] = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    return arrays


def specs_for(files: dict[str, bytes]) -> dict[str, download.FileSpec]:
    """The FileSpec (size, sha256) of each file, as MNIST_FILES holds for the real ones."""
    return {
        name: download.FileSpec(len(blob), hashlib.sha256(blob).hexdigest())
        for name, blob in files.items()
    }


@functools.cache
def _real_data_missing() -> str:
    """Why the real MNIST files cannot be loaded offline, or "" when they can (checked once)."""
    try:
        download.load_mnist_files(offline=True, report=lambda line: None)
    except download.MnistNotFoundError as err:
        return str(err)
    return ""


@dataclass
class Sandbox:
    """Where an isolated test's cache and fake executables live."""

    cache: Path
    bin: Path


@pytest.fixture(autouse=True)
def sandbox(request, monkeypatch, tmp_path_factory):
    """Isolate every test from the user's cache, variables, network and npm (see module doc)."""
    if request.node.get_closest_marker("real_data"):
        # the real files, from the cache `make data` filled: never the network
        monkeypatch.setenv("MNIST_OFFLINE", "1")
        missing = _real_data_missing()
        if missing:
            message = f"the real MNIST files are not here: run `make data` first.\n{missing}"
            if os.environ.get("CI"):  # CI ran `make data` first: missing data is a failure
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        yield None
        return
    root = tmp_path_factory.mktemp("sandbox")
    box = Sandbox(cache=root / "cache", bin=root / "bin")
    box.bin.mkdir()
    monkeypatch.setenv("MNIST_CACHE_DIR", str(box.cache))
    monkeypatch.delenv("MNIST_DATA_DIR", raising=False)
    monkeypatch.delenv("MNIST_OFFLINE", raising=False)
    monkeypatch.setenv("PATH", os.pathsep.join([str(box.bin), os.path.dirname(sys.executable)]))
    monkeypatch.setattr(download, "KERAS_NPZ_URL", UNREACHABLE_NPZ_URL)
    monkeypatch.setattr(download, "IDX_GZ_MIRRORS", [UNREACHABLE_MIRROR])
    monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT", 5.0)
    yield box


@pytest.fixture
def install_fake_mnist(monkeypatch):
    """Return ``install(arrays) -> files``: encode ``arrays`` as IDX files and patch
    ``download.MNIST_FILES`` to their specs, so they pass verification. Writes nothing."""

    def install(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
        files = {name: encode_idx(array) for name, array in arrays.items()}
        monkeypatch.setattr(download, "MNIST_FILES", specs_for(files))
        return files

    return install


@pytest.fixture
def mnist_arrays() -> dict[str, np.ndarray]:
    """Fresh arrays for the four files (see :func:`make_mnist_arrays`), to modify at will."""
    return make_mnist_arrays()


@pytest.fixture
def fake_mnist(install_fake_mnist, mnist_arrays) -> dict[str, bytes]:
    """The bytes of four tiny synthetic IDX files, installed as ``download.MNIST_FILES``' specs.

    200 training and 50 test images; nothing is written to disk (see ``write_mnist``).
    """
    return install_fake_mnist(mnist_arrays)


@pytest.fixture
def write_mnist():
    """Return ``write(folder, files, gz=False)``: put the IDX files into ``folder``."""

    def write(folder: Path, files: dict[str, bytes], gz: bool = False) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for name, blob in files.items():
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(blob))
            else:
                (folder / name).write_bytes(blob)
        return folder

    return write


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    """Runs go to ``tmp_path/runs`` and figures to ``tmp_path/figures`` (the course's
    ``MNIST_RUNS_DIR`` and ``MNIST_FIGURES_DIR``), never to the checkout's own folders."""
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("MNIST_FIGURES_DIR", str(tmp_path / "figures"))
    return tmp_path


def tiny_model(input_shape=(28, 28, 1), classes=10, activation="softmax", seed=0):
    """A small seeded Keras model: flatten, one dense layer (raw scores with ``activation=None``).

    Build it through the ``tiny_model_file`` fixture when a saved copy will do: building and
    saving a model takes about a second.
    """
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(input_shape)
    flat = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    return keras.Model(inputs, keras.layers.Dense(classes, activation=activation)(flat))


def with_parameters(path: Path, parameters: dict):
    """The notebook at ``path`` with papermill's injected-parameters cell for those of
    ``parameters`` it declares in its parameters cell, as ``course run -p NAME VALUE`` would
    inject them (for a notebook that is not run by papermill itself: an edition's copy)."""
    import nbformat
    from papermill.parameterize import parameterize_notebook

    from mnist_helpers.course import notebook_parameters

    nb = nbformat.read(path, as_version=4)
    nb.metadata["papermill"] = {}  # where papermill records the parameters it injects
    for cell in nb.cells:  # papermill's own run adds these; a cell new in JupyterLab lacks them
        cell.metadata.setdefault("tags", [])
    declared = notebook_parameters(path)
    return parameterize_notebook(nb, {k: v for k, v in parameters.items() if k in declared})


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory) -> Path:
    """A saved :func:`tiny_model` (``model.keras``), built once for the whole session: copy it
    before changing it."""
    path = tmp_path_factory.mktemp("tiny_model") / "model.keras"
    tiny_model().save(path)
    return path


# --------------------------------------------------------------------------- browser tests

PROJECT_ROOT = project_root()


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium through playwright, for the whole session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable(f"the browser tests need playwright: {HOW_TO_GET_IT}")
    executable = chromium_path()
    if executable is None:
        unavailable(f"no Chromium found: {HOW_TO_GET_IT}")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(
                executable_path=executable, args=["--no-sandbox"], headless=True
            )
        except Exception as err:  # playwright raises its own Error types
            unavailable(f"Chromium ({executable}) did not start: {err}; {HOW_TO_GET_IT}")
        yield chromium
        chromium.close()


@pytest.fixture
def screenshots(request) -> Path:
    """``screenshots/<test name>/``, emptied: where the test saves what it saw."""
    folder = PROJECT_ROOT / "screenshots" / re.sub(r"[^\w.-]+", "_", request.node.name).strip("_")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def page(browser):
    """A fresh page, 1400x900, that records console errors and uncaught exceptions."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    new_page = context.new_page()
    new_page.errors = []
    new_page.on("console", lambda m: m.type == "error" and new_page.errors.append(m.text))
    new_page.on("pageerror", lambda err: new_page.errors.append(f"uncaught: {err}"))
    new_page.on("requestfailed", lambda r: new_page.errors.append(f"failed: {r.url}"))
    new_page.on(
        "response", lambda r: r.status >= 400 and new_page.errors.append(f"{r.status} {r.url}")
    )
    yield new_page
    context.close()


@pytest.fixture(scope="session")
def site(course_run):
    """``make site``'s build (tools/build_site.py: build, then check links and images), its
    "Try the model" page carrying the course run's model (``--run smoke``), served by a plain
    static file server. Yields the server's URL and the built folder."""
    course_run.check()
    start = time.monotonic()
    build = subprocess.run(
        [sys.executable, "tools/build_site.py", "--run", "smoke"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "MNIST_RUNS_DIR": str(course_run.runs)},
    )
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    print(f"site built and checked in {time.monotonic() - start:.0f} s:\n{build.stdout}")
    html = PROJECT_ROOT / "site" / "_build" / "html"
    with static_server(html) as url:
        yield url, html
