"""Tests of mnist_helpers.export and mnist_helpers.runtimes on tiny models (no real data).

Each export takes a second or two: the models are small, the images random.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys

import keras
import numpy as np
import pytest

from conftest import tiny_model
from mnist_helpers import export, runtimes
from mnist_helpers.model_file import ModelFileError, ModelOutputError
from mnist_helpers.models import build_model, inference_model
from mnist_helpers.predict import load_predictor
from mnist_helpers.predict import main as predict_main
from mnist_helpers.runtimes import Predictor

#: LiteRT publishes no wheel for 64-bit Arm Linux (requirements.txt leaves it out there).
needs_litert = pytest.mark.skipif(
    platform.machine() == "aarch64", reason="ai-edge-litert has no wheel for aarch64 Linux"
)


def images(n: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 28, 28, 1)).astype("float32")


@pytest.fixture
def run(tmp_path, tiny_model_file):
    """A run folder holding a copy of the small, untrained but seeded test model."""
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(tiny_model_file, folder / "model.keras")
    return folder


@pytest.mark.parametrize("fmt", [pytest.param("litert", marks=needs_litert), "onnx"])
def test_export_writes_the_file_and_its_predictions_agree(run, fmt):
    check = export.export_and_check(run, fmt, x=images())
    path = run / f"model{export.SUFFIXES[fmt]}"
    assert check.path == path and path.is_file() and check.size_bytes == path.stat().st_size
    assert check.n_images == 64 and check.n_different == 0
    assert check.max_abs_difference < 1e-5
    assert sorted(p.name for p in run.iterdir()) == sorted(
        ["model.keras", path.name, f"{path.name}.sha256"]
    )
    predictor = load_predictor(run / "model.keras", fmt)
    assert predictor.runtime == fmt
    expected = Predictor(keras.models.load_model(run / "model.keras")).predict_batches(images())
    np.testing.assert_allclose(
        predictor.predict_batches(images(), batch_size=10), expected, atol=1e-5
    )
    assert predictor(images()[0]).shape == (1, 10)  # one image, then a batch: resized
    assert predictor(images(5)).shape == (5, 10)
    assert predictor(np.zeros((0, 28, 28))).shape == (0, 10)


@pytest.mark.parametrize("fmt", [pytest.param("litert", marks=needs_litert), "onnx"])
def test_an_augmented_model_exports_and_predicts_like_the_plain_one(tmp_path, fmt):
    """08's models start with augmentation layers: left out, as they do nothing when predicting.

    (ONNX Runtime has no operation for their random numbers: exported as they are, the
    augmented model could not even be loaded.)
    """
    keras.utils.set_random_seed(0)
    model = build_model("cnn", augment_geometry=True)
    model.save(tmp_path / "model.keras")
    check = export.export_and_check(tmp_path, fmt, x=images(32))
    assert check.n_different == 0 and check.max_abs_difference < 1e-4
    plain = inference_model(model)
    assert [layer.name for layer in plain.layers] == ["cnn"]
    assert plain.count_params() == model.count_params()


def test_a_file_the_runtime_cannot_load_is_a_clear_failure_and_not_kept(run, monkeypatch):
    original = export._export_to

    def export_then_spoil(model, path, fmt, quantize=False):
        original(model, path, fmt, quantize)
        path.write_bytes(b"not an onnx model")

    monkeypatch.setattr(export, "_export_to", export_then_spoil)
    with pytest.raises(export.ExportFailedError, match="onnx runtime cannot run the exported"):
        export.export_and_check(run, "onnx", x=images())
    assert sorted(p.name for p in run.iterdir()) == ["model.keras"]


@needs_litert
def test_a_model_that_predicts_differently_fails_the_check_and_is_not_kept(run, monkeypatch):
    """The agreement check must catch an export that changed the model."""
    original = export._export_to

    def export_an_altered_copy(model, path, fmt, quantize=False):
        altered = keras.models.clone_model(model)
        weights = model.get_weights()
        weights[-2] = weights[-2][:, ::-1]  # the last layer's digits swapped: 0 <-> 9, ...
        altered.set_weights(weights)
        original(altered, path, fmt, quantize)

    monkeypatch.setattr(export, "_export_to", export_an_altered_copy)
    with pytest.raises(export.ExportMismatchError, match=r"predictions differ .* not kept"):
        export.export_and_check(run, "litert", x=images())
    assert sorted(p.name for p in run.iterdir()) == ["model.keras"]  # nothing half-checked

    monkeypatch.setattr(
        "mnist_helpers.data.load_mnist",
        lambda **_: type("D", (), {"x_test": images()})(),
    )
    assert export.main([str(run), "--format", "litert"]) == 1


@needs_litert
def test_check_export_counts_the_predictions_that_differ(run):
    export.export_and_check(run, "litert", x=images())
    model = keras.models.load_model(run / "model.keras")
    weights = model.get_weights()
    weights[-1] = weights[-1] + np.eye(10, dtype="float32")[3] * 100  # always say 3
    model.set_weights(weights)
    check = export.check_export(model, run / "model.tflite", images())
    assert check.n_different > 0 and check.max_abs_difference > 0.5


@needs_litert
def test_auto_runtime_is_the_fastest_installed_and_exports_once(run, monkeypatch):
    model = run / "model.keras"
    assert runtimes.choose_runtime() == ("litert", "the fastest installed")
    first = load_predictor(model, check_images=images())
    assert first.runtime == "litert" and (run / "model.tflite").is_file()
    assert "exported model.tflite now, checked: 0 of 64 predictions differ" in first.reason
    again = load_predictor(model, check_images=images())
    assert again.reason == "the fastest installed; reads model.tflite"
    # a newer date is no reason to export again: the same bytes, the same model
    later = (run / "model.tflite").stat().st_mtime + 10
    os.utime(model, (later, later))
    assert load_predictor(model).reason == "the fastest installed; reads model.tflite"
    # the model trained again after the export: the stale export is replaced
    tiny_model(seed=1).save(model)
    renewed = load_predictor(model, check_images=images())
    assert "exported model.tflite now" in renewed.reason
    # without the faster packages: keras, and the reason says how to install them
    for name in ("litert", "onnx"):  # their packages not installed
        monkeypatch.setitem(runtimes.PACKAGES, name, ("no_such_module", runtimes.PACKAGES[name][1]))
    chosen, why = runtimes.choose_runtime()
    assert chosen == "keras" and "`pip install ai-edge-litert` for litert" in why
    assert load_predictor(model).runtime == "keras"


@needs_litert
def test_auto_falls_back_when_an_export_cannot_be_checked(run):
    """No test images to check a new export on (MNIST missing here): keras, and why."""
    predictor = load_predictor(run / "model.keras")
    assert predictor.runtime == "keras"
    assert predictor.reason.startswith("fallback; litert: ") and "onnx: " in predictor.reason
    assert not (run / "model.tflite").exists() and not (run / "model.onnx").exists()
    with pytest.raises(RuntimeError, match="MNIST"):
        load_predictor(run / "model.keras", "litert")


def test_a_named_runtime_without_its_package_says_how_to_install_it(run, monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # import fails
    with pytest.raises(runtimes.MissingRuntimeError, match=r"pip install ai-edge-litert"):
        load_predictor(run / "model.keras", "litert")
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    with pytest.raises(runtimes.MissingRuntimeError, match=r"pip install tf2onnx"):
        export.export_and_check(run, "onnx", x=images())
    assert load_predictor(run / "model.keras", "keras").runtime == "keras"


@needs_litert
def test_predict_cli_takes_a_runtime_and_says_which(run, capsys, tmp_path):
    from PIL import Image

    picture = tmp_path / "digit.png"
    ink = np.zeros((40, 40), dtype=np.uint8)
    ink[8:32, 18:22] = 255
    Image.fromarray(ink).save(picture)
    args = [str(picture), "--model", str(run / "model.keras")]

    # a new export is checked on MNIST's test images, which this sandbox does not have
    assert predict_main([*args, "--runtime", "litert"]) == 2
    assert "predict: " in capsys.readouterr().err
    assert not (run / "model.tflite").exists()

    export.export_and_check(run, "litert", x=images())
    assert predict_main([*args, "--verbose"]) == 0
    out, err = capsys.readouterr()
    assert "runtime litert (the fastest installed; reads model.tflite)" in err
    keras_line = (predict_main([*args, "--runtime", "keras"]), capsys.readouterr().out)
    assert keras_line == (0, out)  # same digits, same rounded probabilities


def test_unknown_runtime_and_format_are_refused(run):
    with pytest.raises(ValueError, match="runtime must be 'auto' or one of litert, onnx, keras"):
        runtimes.choose_runtime("tensorrt")
    with pytest.raises(ValueError, match="format must be one of litert, onnx"):
        export.export_model(keras.models.load_model(run / "model.keras"), run / "m.x", "coreml")
    assert export.main([str(run / "missing"), "--format", "onnx"]) == 2


# --------------------------------------------------------------------------- which file is run


def digit_picture(folder):
    from PIL import Image

    ink = np.zeros((40, 40), dtype=np.uint8)
    ink[8:32, 18:22] = 255
    Image.fromarray(ink).save(folder / "digit.png")
    return folder / "digit.png"


@needs_litert
def test_an_export_records_the_checksums_of_the_model_and_of_itself(run):
    import hashlib

    export.export_and_check(run, "litert", x=images())
    record = (run / "model.tflite.sha256").read_text().splitlines()
    sums = {
        name: hashlib.sha256((run / name).read_bytes()).hexdigest()
        for name in ("model.keras", "model.tflite")
    }
    assert record == [
        f"{sums['model.keras']}  model.keras",
        f"{sums['model.tflite']}  model.tflite",
    ]
    # an export written by hand is not checked: the record goes, the copy is not trusted
    export.export_model(tiny_model(), run / "model.tflite", "litert")
    assert not (run / "model.tflite.sha256").exists()
    assert (
        "exported model.tflite now"
        in load_predictor(run / "model.keras", "litert", check_images=images()).reason
    )


@needs_litert
@pytest.mark.parametrize("case", ["truncated", "missing", "refused .h5", "a folder"])
def test_predict_opens_the_model_it_is_given_whatever_export_lies_beside_it(
    run, tmp_path, capsys, case
):
    """An old, checked model.tflite beside a model file that cannot be used is no answer."""
    export.export_and_check(run, "litert", x=images())
    model = run / "model.keras"
    good = model.read_bytes()
    if case == "truncated":
        model.write_bytes(good[: len(good) // 2])
        message = "not a valid Keras model file"
    elif case == "missing":
        model.unlink()
        message = "no such model file"
    elif case == "refused .h5":
        model = run / "model.h5"
        keras.models.load_model(run / "model.keras").save(model)
        message = "legacy HDF5"
    else:
        model.unlink()
        model.mkdir()
        message = "is a folder"
    if model.is_file():
        os.utime(model, (1, 1))  # older than the export: a date proves nothing
    with pytest.raises((ModelFileError, FileNotFoundError), match=message):
        load_predictor(model)
    assert predict_main([str(digit_picture(tmp_path)), "--model", str(model)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


@needs_litert
def test_another_model_in_the_same_place_gets_its_own_export(run):
    export.export_and_check(run, "litert", x=images())
    model = run / "model.keras"
    tiny_model(seed=1).save(model)  # copied over the trained one, say, keeping an old date
    os.utime(model, (1, 1))
    predictor = load_predictor(model, "litert", check_images=images())
    assert "exported model.tflite now" in predictor.reason
    expected = Predictor(keras.models.load_model(model)).predict_batches(images())
    np.testing.assert_allclose(predictor.predict_batches(images()), expected, atol=1e-5)


@needs_litert
def test_a_damaged_export_is_never_used_and_never_answers(run, tmp_path):
    export.export_and_check(run, "litert", x=images())
    damaged = bytearray((run / "model.tflite").read_bytes())
    middle = len(damaged) // 2
    damaged[middle : middle + 64] = b"\xff" * 64  # NaN weights, say
    (run / "model.tflite").write_bytes(bytes(damaged))
    # its record no longer matches: exported again from the model
    predictor = load_predictor(run / "model.keras", "litert", check_images=images())
    assert "exported model.tflite now" in predictor.reason
    assert np.isfinite(predictor(images())).all()
    # run directly, the damaged copy is refused, naming the file
    (tmp_path / "damaged.tflite").write_bytes(bytes(damaged))
    with pytest.raises(ModelOutputError, match="NaN or infinite outputs") as refused:
        runtimes.LiteRTPredictor(tmp_path / "damaged.tflite")(images(3))
    assert str(tmp_path / "damaged.tflite") in str(refused.value)


@pytest.mark.parametrize(
    ("runtime", "suffix"),
    [pytest.param("litert", ".tflite", marks=needs_litert), ("onnx", ".onnx")],
)
def test_every_runtime_refuses_outputs_that_are_not_probabilities(tmp_path, runtime, suffix):
    path = export.export_model(tiny_model(activation=None), tmp_path / f"m{suffix}", runtime)
    cls = runtimes.LiteRTPredictor if runtime == "litert" else runtimes.OnnxPredictor
    with pytest.raises(ModelOutputError, match="not probabilities.*softmax") as refused:
        cls(path)(images(2))
    assert str(path) in str(refused.value)
    with pytest.raises(ModelOutputError):
        cls(path).predict_batches(images(5), batch_size=2)


@pytest.mark.parametrize(
    ("runtime", "suffix"),
    [pytest.param("litert", ".tflite", marks=needs_litert), ("onnx", ".onnx")],
)
def test_every_runtime_refuses_a_model_for_other_images(tmp_path, runtime, suffix):
    path = tmp_path / f"m{suffix}"
    model = tiny_model((32, 32, 1))
    model(np.zeros((1, 32, 32, 1), dtype="float32"))  # a model is exported once called
    model.export(str(path), format=runtime, verbose=False)
    cls = runtimes.LiteRTPredictor if runtime == "litert" else runtimes.OnnxPredictor
    with pytest.raises(ModelFileError, match=r"takes images of shape \(32, 32, 1\)"):
        cls(path)


def test_export_refuses_a_model_without_softmax_before_needing_mnist(tmp_path, capsys):
    path = tmp_path / "logits.keras"
    tiny_model(activation=None).save(path)
    with pytest.raises(ModelOutputError, match="not probabilities"):
        export.export_and_check(path, "onnx")
    assert export.main([str(path), "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert f"export: {path}: the model's outputs are not probabilities" in err
    assert not list(tmp_path.glob("logits.onnx*"))


def test_onnx_runtime_sends_no_telemetry_and_keeps_no_device_id(tmp_path):
    """ONNX Runtime reports usage to Microsoft unless told not to before it loads."""
    import subprocess

    path = export.export_model(tiny_model(), tmp_path / "m.onnx", "onnx")
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "HOME")}
    env |= {"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    code = (
        "import numpy as np; from mnist_helpers.runtimes import OnnxPredictor; "
        f"print(OnnxPredictor({str(path)!r})(np.zeros((1, 28, 28))).shape)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(1, 10)"
    assert not [p for p in home.rglob("*") if p.is_file()]  # e.g. .cache/Microsoft/.../deviceid
