"""The website's "Try the model" page (site/try.md): what ``make site`` puts beside it.

:func:`build_try_page` fills the built site's ``_static/try/`` with everything the page loads,
so that it works from any static file server with nothing behind it:

* the page's own ES modules (``site/try/*.js``, ``*.css``) and the digit pad that notebook 06
  uses too (``mnist_helpers/static/digit_pad.js``);
* onnxruntime-web's WebAssembly build, only the files the page uses: fetched once from the npm
  registry, checked against its SHA-256, cached beside MNIST (offline, the page says the
  runtime is missing and the build says why);
* the course's own model: ``runs/<run>/model.onnx``, exported from ``model.keras`` and checked
  on MNIST's test images by :func:`mnist_helpers.export.export_and_check` (0 predictions may
  differ), copied with the run's name, parameters and test accuracy written into the file's
  metadata; and an 8-bit copy (``model_int8.onnx``), offered only if it reads every image in
  ``samples/`` as the full model does;
* ``model.json``: which models the page offers, or why there is none and how to make one.

Called by tools/build_site.py after the book is built; ``--run NAME`` there picks the run.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mnist_helpers.download import fetch_verified
from mnist_helpers.paths import project_root, runs_dir, user_cache_dir

ROOT = project_root()
#: The page's own modules and style, copied into the built site as they are.
PAGE_SOURCES = ROOT / "site" / "try"
PAD_SCRIPT = ROOT / "mnist_helpers" / "static" / "digit_pad.js"
SAMPLES = ROOT / "samples"

ORT_VERSION = "1.30.0"
ORT_URL = f"https://registry.npmjs.org/onnxruntime-web/-/onnxruntime-web-{ORT_VERSION}.tgz"
#: SHA-256 of the tarball above (npm's sha512 integrity field agrees with it).
ORT_SHA256 = "d2228df7e4616bc3348bf504ee888f3bec43789a273f0a63f3e68d203ce3bf71"
#: The tarball is about 33 MB; a server sending more than this is refused.
ORT_MAX_BYTES = 64 * 2**20
ORT_TIMEOUT = 60.0
#: The WebAssembly-only build: its ES module, the loader it imports, and the one WebAssembly
#: binary it runs (SIMD; run on one thread, so no cross-origin isolation is needed). The
#: package's other builds (WebGPU, JSPI, asyncify, 17-28 MB each) are left out.
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
RUNTIME_MISSING = "the page will say the runtime is missing"


@dataclass
class TryPage:
    """What :func:`build_try_page` put in place: lines for the build's summary, and sizes."""

    lines: list[str] = field(default_factory=list)
    runtime: bool = False
    models: list[dict] = field(default_factory=list)
    bytes_by_file: dict[str, int] = field(default_factory=dict)


def vendor_onnxruntime(
    dest: Path, url: str = ORT_URL, sha256: str = ORT_SHA256, cache: Path | None = None
) -> tuple[bool, str]:
    """Put onnxruntime-web's :data:`ORT_FILES` into ``dest`` (fetched once, verified, cached).

    Returns ``(True, message)`` when they are in place, else ``(False, why)``.
    """
    cache = cache or user_cache_dir() / "site" / Path(ORT_URL).name
    shutil.rmtree(dest, ignore_errors=True)
    was_cached = cache.is_file()
    try:
        tarball = fetch_verified(url, sha256, cache, ORT_MAX_BYTES, ORT_TIMEOUT)
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
            members = {member.name: member for member in archive.getmembers() if member.isfile()}
            dest.mkdir(parents=True)
            for name in ORT_FILES:
                member = members.get(f"package/dist/{name}")
                if member is None:
                    raise ValueError(f"the onnxruntime-web tarball has no dist/{name}")
                (dest / name).write_bytes(archive.extractfile(member).read())
    except (OSError, ValueError, tarfile.TarError) as error:  # offline, a checksum, a bad file
        shutil.rmtree(dest, ignore_errors=True)
        reason = str(getattr(error, "reason", None) or error) or type(error).__name__
        return False, f"onnxruntime-web {ORT_VERSION} not available ({reason}): {RUNTIME_MISSING}"
    source = f"cached in {cache}" if was_cached else f"downloaded to {cache}"
    return True, f"onnxruntime-web {ORT_VERSION}, WebAssembly build only ({source})"


def sample_images() -> list[Path]:
    """The images the 8-bit model must read as the full one does: ``samples/`` and the
    drawings in ``samples/drawn/``."""
    return sorted(
        path for pattern in ("*.png", "*.jpg", "drawn/*.png") for path in SAMPLES.glob(pattern)
    )


def _with_metadata(source: Path, target: Path, metadata: dict[str, str]) -> None:
    """Copy the ONNX model ``source`` to ``target`` with ``metadata`` in its metadata_props."""
    import onnx

    model = onnx.load(source)
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, metadata)
    onnx.save(model, target)


def _digits(path: Path, images: np.ndarray) -> np.ndarray:
    """The digit that the ONNX model at ``path`` reads in each of ``images`` (28x28x1), one
    image at a time as the page reads them (an 8-bit model's activations are scaled per call,
    so a batch could read an image otherwise), with the course's ONNX Runtime predictor."""
    from mnist_helpers.runtimes import OnnxPredictor

    return OnnxPredictor(path).predict_batches(images, batch_size=1).argmax(axis=1)


def _int8_copy(full: Path, target: Path, metadata: dict[str, str]) -> tuple[dict | None, str]:
    """Quantize ``full``'s weights to 8 bits into ``target``; keep it only if it reads every
    sample image as ``full`` does, with ``metadata`` and its own test accuracy (when MNIST is
    here). Returns its metadata (None if not kept) and a line saying why."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    from mnist_helpers.data import load_mnist
    from mnist_helpers.preprocess import mnist_like

    root = logging.getLogger()  # quantize_dynamic's "consider pre-processing": advice, not news
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(full, target, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    images = np.stack([mnist_like(path) for path in sample_images()])
    differ = int((_digits(full, images) != _digits(target, images)).sum())
    if differ:
        target.unlink()
        return (
            None,
            f"8-bit model not offered: it reads {differ} of {len(images)} samples otherwise",
        )
    try:
        test = load_mnist()
    except (OSError, ValueError):  # no MNIST here: the accuracy stays unknown
        accuracy = ""
    else:
        accuracy = f"{(_digits(target, test.x_test) == test.y_test).mean():.4f}"
    metadata = {**metadata, "test_accuracy": accuracy}
    _with_metadata(target, target, metadata)
    return metadata, (
        f"8-bit model offered: it reads all {len(images)} samples as the full model does"
        + (f"; test accuracy {float(accuracy):.2%}" if accuracy else "")
    )


def export_site_models(run: str, dest: Path) -> tuple[list[dict], list[str]]:
    """Export ``runs/<run>/model.keras`` to ONNX (checked on MNIST's test set) and write the
    page's copies into ``dest``: ``model.onnx`` and, if it keeps the samples' digits,
    ``model_int8.onnx``. Returns the models for ``model.json`` and lines for the summary;
    no models (and a line saying how to make one) when the run has no model."""
    from mnist_helpers.console import quiet_tensorflow
    from mnist_helpers.evaluation import load_run
    from mnist_helpers.export import export_and_check, export_matches, exported_path

    run_dir = runs_dir() / run
    model_file = run_dir / "model.keras"
    if not model_file.is_file():
        return [], [
            f"no model for the Try page: {model_file} does not exist. Train it first "
            f"(`make run`, or notebook 04 with run_name={run!r}), then `make site` again; "
            "until then the page says the model is missing"
        ]
    with quiet_tensorflow():
        finished = load_run(run)
        onnx_file = exported_path(model_file, "onnx")
        if export_matches(model_file, "onnx"):
            line = f"{onnx_file} reused: exported from this model.keras and checked before"
        else:
            check = export_and_check(model_file, "onnx")
            line = (
                f"{onnx_file} exported and checked: {check.n_different} of "
                f"{check.n_images:,} test predictions differ from Keras'"
            )
    accuracy = finished.metrics.get("test_accuracy")
    metadata = {
        "run": run,
        "parameters": str(finished.model.count_params()),
        "test_accuracy": "" if accuracy is None else f"{accuracy:.4f}",
    }
    full, small = dest / "model.onnx", dest / "model_int8.onnx"
    _with_metadata(onnx_file, full, metadata)
    models = [_entry(full, "32-bit floats", metadata)]
    small_metadata, why = _int8_copy(full, small, metadata)
    if small_metadata:
        models.append(_entry(small, "8-bit weights", small_metadata))
    return models, [line, why]


def _entry(path: Path, label: str, metadata: dict[str, str]) -> dict:
    """The model file at ``path`` as ``model.json`` lists it: its metadata, label and size."""
    return {"file": path.name, "label": label, **metadata, "bytes": path.stat().st_size}


def build_try_page(static: Path, run: str = "default") -> TryPage:
    """Fill ``static/try/`` (``static`` is the built site's ``_static``); see the module doc."""
    dest = static / "try"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    page = TryPage()
    for source in [*sorted(PAGE_SOURCES.glob("*.js")), *sorted(PAGE_SOURCES.glob("*.css"))]:
        shutil.copyfile(source, dest / source.name)
    shutil.copyfile(PAD_SCRIPT, dest / PAD_SCRIPT.name)
    page.runtime, line = vendor_onnxruntime(dest / "ort")
    page.lines.append(line)
    page.models, lines = export_site_models(run, dest)
    page.lines.extend(lines)
    missing = None
    if not page.models:
        missing = (
            f"This site was built without a trained model (runs/{run}/model.keras). Train one "
            "with `make run`, then build the site again with `make site`."
        )
    (dest / "model.json").write_text(
        json.dumps({"models": page.models, "missing": missing, "runtime": page.runtime}, indent=1),
        encoding="utf-8",
    )
    page.bytes_by_file = {
        path.relative_to(dest).as_posix(): path.stat().st_size
        for path in sorted(dest.rglob("*"))
        if path.is_file() and path.name != "model_int8.onnx"
    }
    total = sum(page.bytes_by_file.values())
    runtime = sum(v for k, v in page.bytes_by_file.items() if k.startswith("ort/"))
    model = page.bytes_by_file.get("model.onnx")
    page.lines.append(
        f"Try page: {total / 1e6:.1f} MB of its own files (runtime {runtime / 1e6:.1f} MB, "
        + (f"model {model / 1e6:.2f} MB)" if model else "no model)")
    )
    return page
