// onnx_info.js: what an .onnx file holds (parameters, metadata, input and output shapes), read in
// the browser before the model runs, so that the "Try the model" page can say which model it runs
// and turn a wrong file away with a clear message.
//
// An .onnx file is one protobuf message, a ModelProto (see onnx.proto in the `onnx` package).
// This module reads protobuf's wire format itself, only the fields below; Python reads the same
// with `onnx.load(path)` (tests/test_try_modules.py checks that the two agree):
//   ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8, metadata_props 14
//   GraphProto: initializer 5 (a TensorProto: dims 1), input 11, output 12 (ValueInfoProto)
//   ValueInfoProto: name 1, type 2 (TypeProto: tensor_type 1, whose shape is 2)
//   TensorShapeProto: dim 1 (Dimension: dim_value 1 or dim_param 2)
//   OperatorSetIdProto: domain 1, version 2; StringStringEntryProto: key 1, value 2

const VARINT = 0; // protobuf's wire types: how a field's value is written
const FIXED64 = 1;
const LENGTH_DELIMITED = 2; // a string, bytes, a message, or a packed list of numbers
const FIXED32 = 5;
const WIRE_NAMES = { [VARINT]: "a number", [LENGTH_DELIMITED]: "a string or a message" };

/** The first bytes of files that people may pick instead of an .onnx, to name them. */
const SIGNATURES = [
  [[0x89, 0x50, 0x4e, 0x47], "a PNG image"],
  [[0xff, 0xd8, 0xff], "a JPEG image"],
  [[0x50, 0x4b, 0x03, 0x04], "a ZIP archive (a .keras model is one: export it to ONNX first)"],
  [[0x89, 0x48, 0x44, 0x46], "an HDF5 file (a .h5 Keras model? export it to ONNX first)"],
  [[0x1f, 0x8b], "a gzip file"],
];

function notAModel(what) {
  return new Error(`not an ONNX model: ${what}`);
}

/** The varint at `pos` (at most 10 bytes, none at or past `end`): [its value, where it ends]. */
function readVarint(bytes, pos, end) {
  let value = 0;
  for (let i = 0; i < 10 && pos < end; i++) {
    const byte = bytes[pos++];
    value += (byte & 0x7f) * 2 ** (7 * i); // not <<, which stops at 32 bits
    if (byte < 0x80) return [value, pos];
  }
  throw notAModel(`the data ends inside a number, or a number runs past 10 bytes (byte ${pos})`);
}

/** One protobuf message, `bytes[start:end]`, split into its fields; read them by number. */
class Message {
  constructor(bytes, start, end, name) {
    this.bytes = bytes;
    this.name = name; // the message's type in onnx.proto, for the error messages
    this.fields = new Map(); // field number -> [{wire, value}, ...] in the order written
    let pos = start;
    while (pos < end) {
      const [tag, afterTag] = readVarint(bytes, pos, end);
      const number = Math.floor(tag / 8);
      const wire = tag % 8;
      let value = null; // a number (VARINT), [start, end] (LENGTH_DELIMITED), or null (FIXED)
      pos = afterTag;
      if (number === 0) throw notAModel(`${name} holds a field numbered 0, which protobuf forbids`);
      if (wire === VARINT) {
        [value, pos] = readVarint(bytes, pos, end);
      } else if (wire === LENGTH_DELIMITED) {
        const [length, afterLength] = readVarint(bytes, pos, end);
        if (length > end - afterLength) {
          throw notAModel(
            `the data ends early: field ${number} of ${name} claims ${length} bytes, ` +
              `${end - afterLength} are left (a file cut short)`,
          );
        }
        value = [afterLength, afterLength + length];
        pos = afterLength + length;
      } else if (wire === FIXED64 || wire === FIXED32) {
        pos += wire === FIXED64 ? 8 : 4;
        if (pos > end) throw notAModel(`the data ends early, in field ${number} of ${name}`);
      } else {
        throw notAModel(`field ${number} of ${name} has wire type ${wire}, not one protobuf uses`);
      }
      if (!this.fields.has(number)) this.fields.set(number, []);
      this.fields.get(number).push({ wire, value });
    }
  }

  has(number) {
    return this.fields.has(number);
  }

  /** Every value of field `number`, each checked to have the wire type onnx.proto gives it. */
  all(number, wire) {
    return (this.fields.get(number) ?? []).map((field) => {
      if (field.wire !== wire) {
        const found = WIRE_NAMES[field.wire] ?? "a fixed-size value";
        throw notAModel(`field ${number} of ${this.name} is ${found}, not ${WIRE_NAMES[wire]}`);
      }
      return field.value;
    });
  }

  /** The field's number, or null without one (protobuf keeps the last one written). */
  number(number) {
    return this.all(number, VARINT).at(-1) ?? null;
  }

  /** The field's text, or null without one. */
  string(number) {
    const range = this.all(number, LENGTH_DELIMITED).at(-1);
    if (range === undefined) return null;
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(this.bytes.subarray(...range));
    } catch {
      throw notAModel(`field ${number} of ${this.name} should be UTF-8 text, it is not`);
    }
  }

  /** Every message in field `number`, as `name`s in onnx.proto. */
  messages(number, name) {
    return this.all(number, LENGTH_DELIMITED).map(([s, e]) => new Message(this.bytes, s, e, name));
  }

  /** The message in field `number`, or null without one. */
  message(number, name) {
    return this.messages(number, name).at(-1) ?? null;
  }
}

/** How many numbers a TensorProto holds: the product of its dims (int64s, packed or not). */
function tensorSize(tensor) {
  let size = 1;
  for (const { wire, value } of tensor.fields.get(1) ?? []) {
    if (wire === VARINT) {
      size *= value;
    } else if (wire === LENGTH_DELIMITED) {
      for (let pos = value[0]; pos < value[1]; ) {
        const [dim, next] = readVarint(tensor.bytes, pos, value[1]); // packed: one after another
        size *= dim;
        pos = next;
      }
    } else {
      throw notAModel("field 1 (dims) of a TensorProto is a fixed-size value, not a number");
    }
  }
  if (!Number.isSafeInteger(size)) {
    throw notAModel(`a TensorProto's dims multiply to ${size}, more than any file holds`);
  }
  return size;
}

/** A ValueInfoProto as `{name, shape}`: see {@link onnxInfo}. */
function valueInfo(value) {
  const tensorType = value.message(2, "TypeProto")?.message(1, "TypeProto.Tensor");
  const shape = tensorType?.message(2, "TensorShapeProto") ?? null;
  const dims = shape?.messages(1, "TensorShapeProto.Dimension") ?? [];
  return {
    name: value.string(1) ?? "",
    shape: shape && dims.map((dim) => dim.number(1) ?? dim.string(2) ?? null),
  };
}

/** What a file starts with, when it is not a model: "a PNG image", 'text ("...")', or null. */
function looksLike(bytes) {
  for (const [signature, name] of SIGNATURES) {
    if (signature.every((byte, i) => bytes[i] === byte)) return name;
  }
  const head = bytes.subarray(0, 64);
  const isText = (byte) => byte === 9 || byte === 10 || byte === 13 || (byte >= 32 && byte < 127);
  if (!head.every(isText)) return null;
  const start = new TextDecoder().decode(head.subarray(0, 24)).replace(/\s+/g, " ");
  return `text ("${start}${bytes.length > 24 ? "..." : ""}")`;
}

/**
 * Read what an .onnx file holds, without running it.
 * @param {Uint8Array} bytes the whole file
 * @returns {{parameters: number, initializers: number, metadata: Object<string, string>,
 *   inputs: {name: string, shape: ?Array<number|string|null>}[],
 *   outputs: {name: string, shape: ?Array<number|string|null>}[],
 *   producer: string, opset: ?number}}
 *   `parameters`: how many numbers the initializers (the weights and constants) hold, each
 *   one's dims multiplied, summed; `metadata`: the model's metadata_props, key to value;
 *   `shape`: per dimension, its size, its name when it varies (the batch), or null when
 *   unknown (the shape itself is null when even the number of dimensions is unknown);
 *   `producer`: the tool that wrote the file ("tf2onnx"); `opset`: the version of the
 *   standard operators (domain "" or "ai.onnx"), null without one.
 * @throws {Error} "not an ONNX model: ..." with what the bytes are instead: nothing, a PNG,
 *   text, a file cut short, another kind of protobuf message
 */
export function onnxInfo(bytes) {
  if (!(bytes instanceof Uint8Array)) {
    throw notAModel(`expected the file's bytes as a Uint8Array, got ${typeof bytes}`);
  }
  if (bytes.length === 0) throw notAModel("the file is empty (0 bytes)");
  const found = looksLike(bytes);
  if (found) throw notAModel(`the file is ${found}`);
  const model = new Message(bytes, 0, bytes.length, "ModelProto");
  const missing = [
    [1, "ir_version (field 1)"],
    [7, "graph (field 7)"],
    [8, "opset_import (field 8)"],
  ].filter(([number]) => !model.has(number));
  if (missing.length > 0) {
    const names = missing.map(([, name]) => name).join(", ");
    throw notAModel(`a protobuf message, but without a model's ${names}`);
  }
  model.number(1); // ir_version: checked to be a number, not used
  const graph = model.message(7, "GraphProto");
  const initializers = graph.messages(5, "TensorProto");
  const opsets = model.messages(8, "OperatorSetIdProto");
  const standard = opsets.filter((opset) => ["", "ai.onnx"].includes(opset.string(1) ?? ""));
  const metadata = {};
  for (const entry of model.messages(14, "StringStringEntryProto")) {
    metadata[entry.string(1) ?? ""] = entry.string(2) ?? "";
  }
  return {
    parameters: initializers.reduce((sum, tensor) => sum + tensorSize(tensor), 0),
    initializers: initializers.length,
    metadata,
    inputs: graph.messages(11, "ValueInfoProto").map(valueInfo),
    outputs: graph.messages(12, "ValueInfoProto").map(valueInfo),
    producer: model.string(2) ?? "",
    opset: standard.at(-1)?.number(2) ?? null,
  };
}

/**
 * One line for a person: "216,395 parameters · input [?, 28, 28, 1] · output [?, 10]".
 * A dimension that varies or is unknown shows as "?".
 * @param {ReturnType<typeof onnxInfo>} info what {@link onnxInfo} read
 * @returns {string}
 */
export function describeModel(info) {
  const shape = ({ shape }) =>
    shape === null
      ? "[unknown shape]"
      : `[${shape.map((dim) => (typeof dim === "number" ? dim : "?")).join(", ")}]`;
  const values = (word, list) =>
    `${word}${list.length === 1 ? "" : "s"} ${list.map(shape).join(", ") || "none"}`;
  return [
    `${info.parameters.toLocaleString("en-US")} parameters`,
    values("input", info.inputs),
    values("output", info.outputs),
  ].join(" · ");
}
