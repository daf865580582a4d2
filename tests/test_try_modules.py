"""The "Try the model" page's two small modules, run in Chromium and checked against Python:
site/try/zip.js (the learner's drawings in one ZIP, read back with ``zipfile``) and
site/try/onnx_info.js (what an .onnx file holds, read back with ``onnx``)."""

from __future__ import annotations

import io
import math
import random
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from browsing import static_server

from conftest import PROJECT_ROOT, tiny_model

pytestmark = [pytest.mark.browser]

MODULES = PROJECT_ROOT / "site" / "try"
NOT_A_MODEL = "not an ONNX model:"
METADATA = {"run": "smoke", "test_accuracy": "0.9655"}

#: The test page: the two modules on ``window``, and a way to fetch a served file's bytes.
TEST_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>site/try modules</title>
<link rel="icon" href="data:,"></head>
<body><script type="module">
import { zipFiles } from "./zip.js";
import { describeModel, onnxInfo } from "./onnx_info.js";
const fetchBytes = async (name) => new Uint8Array(await (await fetch(name)).arrayBuffer());
Object.assign(window, { zipFiles, onnxInfo, describeModel, fetchBytes, modulesReady: true });
</script></body></html>
"""

#: Run ``onnxInfo`` on a served file: its result, or ``{error: message}``.
READ_INFO = """async (name) => {
  const bytes = await fetchBytes(name);
  try { return onnxInfo(bytes); } catch (err) { return { error: String(err.message) }; }
}"""


def _value_info(value) -> dict:
    """A graph input or output as the ``onnx`` package reads it, in onnxInfo's form."""
    if not value.type.tensor_type.HasField("shape"):
        return {"name": value.name, "shape": None}
    dims = value.type.tensor_type.shape.dim
    shape = [
        d.dim_value if d.HasField("dim_value") else d.dim_param if d.HasField("dim_param") else None
        for d in dims
    ]
    return {"name": value.name, "shape": shape}


def _onnx_reads(path: Path) -> dict:
    """What ``onnx.load`` reads from ``path``, in onnxInfo's form."""
    import onnx

    model = onnx.load(path)
    graph = model.graph
    return {
        "parameters": sum(math.prod(t.dims) for t in graph.initializer),
        "initializers": len(graph.initializer),
        "metadata": {entry.key: entry.value for entry in model.metadata_props},
        "inputs": [_value_info(v) for v in graph.input],
        "outputs": [_value_info(v) for v in graph.output],
        "producer": model.producer_name,
        "opset": next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
    }


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _odd_model() -> bytes:
    """A model that tf2onnx never writes, with what onnxInfo must still read: dims packed into
    one field (protobuf's other way to write a repeated number; onnx.proto's are unpacked), a
    scalar, a named, an unknown and a fixed dimension, an output without a shape."""
    import onnx
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", None, 7])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    unpacked = helper.make_tensor("b", TensorProto.FLOAT, [5], [0.0] * 5)
    scalar = helper.make_tensor("s", TensorProto.FLOAT, [], [1.0])
    graph = helper.make_graph([], "odd", inputs, outputs, initializer=[unpacked, scalar])
    model = helper.make_model(graph, producer_name="by hand")
    model.ClearField("graph")
    packed = _field(1, _varint(3) + _varint(4)) + _varint(2 << 3) + _varint(1)  # dims, FLOAT
    packed += _field(8, b"w") + _field(9, bytes(48))  # name, raw_data
    blob = model.SerializeToString() + _field(7, graph.SerializeToString() + _field(5, packed))
    dims = [list(t.dims) for t in onnx.load_from_string(blob).graph.initializer]
    assert dims == [[5], [], [3, 4]], f"onnx reads the hand-made model's dims as {dims}"
    return blob


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_model_file):
    """A folder served over HTTP: the two modules, the test page, a tiny model exported to
    ONNX with metadata (``model.onnx``), its int8 copy (``model_int8.onnx``), and files that
    are not models. Exported once for the module: it takes a few seconds."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from mnist_helpers.export import export_model

    folder = tmp_path_factory.mktemp("try_modules")
    for name in ("zip.js", "onnx_info.js"):
        shutil.copy(MODULES / name, folder / name)
    (folder / "index.html").write_text(TEST_PAGE, "utf-8")

    path = export_model(tiny_model(), folder / "model.onnx", "onnx")
    model = onnx.load(path)
    for key, value in METADATA.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, path)
    quantize_dynamic(path, folder / "model_int8.onnx", weight_type=QuantType.QInt8)

    blob = path.read_bytes()
    tensor = onnx.numpy_helper.from_array(np.zeros((3, 4), "float32"), "w")
    not_models = {
        "empty.onnx": b"",
        "notes.onnx": b"A model? No: these are notes about the model.\n" * 3,
        "digit.onnx": (PROJECT_ROOT / "samples" / "pen_3.png").read_bytes(),
        "model.keras": tiny_model_file.read_bytes(),
        "cut_short.onnx": blob[: len(blob) // 2],
        "tensor.pb": tensor.SerializeToString(),
        "graph.pb": model.graph.SerializeToString(),
        "random.onnx": random.Random(28).randbytes(5000),
    }
    (folder / "odd.onnx").write_bytes(_odd_model())
    for name, data in not_models.items():
        (folder / name).write_bytes(data)
    with static_server(folder) as url:
        yield url, folder


@pytest.fixture
def modules(page, served):
    """The test page, loaded, its modules imported; no console error when the test is done."""
    url, _ = served
    page.goto(f"{url}/index.html")
    page.wait_for_function("window.modulesReady === true")
    yield page
    assert page.errors == [], f"the test page logged errors: {page.errors}"


# ------------------------------------------------------------------------------------- zip.js


def test_zip_files_open_in_python(modules):
    files = {
        "pen_3.png": (PROJECT_ROOT / "samples" / "pen_3.png").read_bytes(),
        "empty.txt": b"",
        "Zahl_7_größer_七.png": random.Random(7).randbytes(20_000),
    }
    data = modules.evaluate(
        """([files, date]) => Array.from(zipFiles(
             files.map(([name, bytes]) => ({ name, bytes: new Uint8Array(bytes) })),
             new Date(...date)))""",
        [[[name, list(blob)] for name, blob in files.items()], [2024, 4, 17, 13, 45, 30]],
    )
    data = bytes(data)
    # stored: per file, a local header (30 bytes), a central directory entry (46), the name in
    # each and the bytes; then the end record (22)
    expected_size = 22 + sum(76 + 2 * len(n.encode()) + len(b) for n, b in files.items())
    assert len(data) == expected_size, f"{len(data)} bytes, expected {expected_size} (stored)"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None, "a file's CRC-32 does not match its bytes"
        assert archive.namelist() == list(files), archive.namelist()
        for name, blob in files.items():
            info = archive.getinfo(name)
            assert archive.read(name) == blob, f"{name}: {len(archive.read(name))} bytes back"
            assert info.compress_type == zipfile.ZIP_STORED, (name, info.compress_type)
            assert info.flag_bits & 0x800, f"{name}: the UTF-8 flag (bit 11) is not set"
            assert info.date_time == (2024, 5, 17, 13, 45, 30), (name, info.date_time)


def test_zip_files_refuses_what_a_zip_cannot_hold(modules):
    messages = modules.evaluate(
        """() => {
          const file = (name) => ({ name, bytes: new Uint8Array([1, 2, 3]) });
          const cases = {
            "no files": [],
            "a name twice": [file("3.png"), file("3.png")],
            "a folder": [file("digits/3.png")],
            "a Windows folder": [file("digits\\\\3.png")],
            "a parent folder": [file("..")],
            "65,536 files": Array.from({ length: 65536 }, (_, i) => file(`${i}.png`)),
          };
          const outcome = (files) => {
            try { zipFiles(files); return null; } catch (err) { return err.message; }
          };
          return Object.fromEntries(Object.entries(cases).map(([k, v]) => [k, outcome(v)]));
        }"""
    )
    expected = {
        "no files": "no files to put in the archive",
        "a name twice": '"3.png" appears twice',
        "a folder": 'file name "digits/3.png" holds "/", "\\" or ".."',
        "a Windows folder": 'file name "digits\\\\3.png" holds',
        "a parent folder": 'file name ".." holds',
        "65,536 files": "at most 65,535 files, got 65536",
    }
    for case, words in expected.items():
        assert messages[case] is not None, f"{case}: zipFiles accepted it"
        assert messages[case].startswith("zipFiles: ") and words in messages[case], messages[case]

    # the most a plain ZIP holds still works: the end record counts 65,535 files
    end = bytes(
        modules.evaluate(
            """() => Array.from(zipFiles(Array.from({ length: 65535 },
                 (_, i) => ({ name: `${i}.png`, bytes: new Uint8Array([i & 255]) }))).slice(-22))"""
        )
    )
    signature, _, _, on_disk, total = struct.unpack("<IHHHH", end[:12])
    assert (signature, on_disk, total) == (0x06054B50, 65535, 65535), end.hex()


# ------------------------------------------------------------------------------- onnx_info.js


@pytest.mark.parametrize("name", ["model.onnx", "model_int8.onnx"])
def test_onnx_info_reads_what_onnx_reads(modules, served, name):
    info = modules.evaluate(READ_INFO, name)
    assert "error" not in info, info
    expected = _onnx_reads(served[1] / name)
    for key, value in expected.items():
        assert info[key] == value, f"{name}: {key} is {info[key]!r}, onnx reads {value!r}"
    # what the page relies on: our metadata, an image batch in and ten scores out
    assert METADATA.items() <= info["metadata"].items(), info["metadata"]
    (model_input,) = info["inputs"]
    assert isinstance(model_input["shape"][0], str) and model_input["shape"][1:] == [28, 28, 1]
    line = modules.evaluate("(info) => describeModel(info)", info)
    parameters = f"{expected['parameters']:,}"
    assert line == f"{parameters} parameters · input [?, 28, 28, 1] · output [?, 10]", line


def test_onnx_info_reads_packed_dims_and_odd_shapes(modules, served):
    info = modules.evaluate(READ_INFO, "odd.onnx")
    expected = _onnx_reads(served[1] / "odd.onnx")
    assert expected["parameters"] == 5 + 1 + 12, expected  # dims [5], [] and [3, 4] (packed)
    for key, value in expected.items():
        assert info[key] == value, f"odd.onnx: {key} is {info[key]!r}, onnx reads {value!r}"
    assert info["inputs"][0]["shape"] == ["batch", None, 7], info["inputs"]
    assert info["outputs"][0]["shape"] is None, info["outputs"]
    line = modules.evaluate("(info) => describeModel(info)", info)
    assert line == "18 parameters · input [?, ?, 7] · output [unknown shape]", line


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("empty.onnx", "the file is empty"),
        ("notes.onnx", 'the file is text ("A model? No: these are'),
        ("digit.onnx", "the file is a PNG image"),
        ("model.keras", "the file is a ZIP archive (a .keras model is one"),
        ("cut_short.onnx", "(a file cut short)"),
        ("tensor.pb", "a protobuf message, but without a model's graph (field 7)"),
        ("graph.pb", "without a model's graph (field 7), opset_import (field 8)"),
        ("random.onnx", ""),
    ],
)
def test_onnx_info_names_what_a_wrong_file_is(modules, name, words):
    info = modules.evaluate(READ_INFO, name)
    message = info.get("error", f"no error: {info}")
    assert message.startswith(NOT_A_MODEL) and words in message, message


def test_onnx_info_never_crashes_on_a_cut_or_damaged_model(modules):
    """The model cut short after each of its first 512 bytes and every 97th byte after, and a
    thousand copies with three of their first 600 bytes changed: onnxInfo reads them or says
    "not an ONNX model:", never fails otherwise (an index past the end) and never hangs."""
    outcome = modules.evaluate(
        """async () => {
          const bytes = await fetchBytes("model.onnx");
          const other = [];
          let read = 0, refused = 0;
          const tryIt = (data) => {
            try { onnxInfo(data); read += 1; } catch (err) {
              if (String(err.message).startsWith("not an ONNX model:")) refused += 1;
              else other.push(String(err));
            }
          };
          const start = performance.now();
          for (let n = 0; n < bytes.length; n += n < 512 ? 1 : 97) tryIt(bytes.subarray(0, n));
          let seed = 28;
          const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
          for (let k = 0; k < 1000; k++) {
            const damaged = bytes.slice();
            for (let j = 0; j < 3; j++) damaged[Math.floor(random() * 600)] = random() * 256;
            tryIt(damaged);
          }
          return { read, refused, other, seconds: (performance.now() - start) / 1000 };
        }"""
    )
    assert outcome["other"] == [], outcome["other"][:5]
    assert outcome["refused"] > 500, outcome  # the cuts at least
    print(f"{outcome['read'] + outcome['refused']} files in {outcome['seconds']:.2f} s")
    assert outcome["seconds"] < 10, f"{outcome['seconds']:.1f} s for about 1,800 files"
