// The "Try the model" page (site/try.md): draw a digit, and the course's model reads it here,
// in the browser, with ONNX Runtime Web (WebAssembly). Nothing is sent anywhere.
//
// Each pen-up: the canvas's pixels -> preprocess.js's mnistLike (the course's recipe, as
// mnist_helpers.preprocess does it) -> the model -> the three best guesses, the 28x28 input,
// and the milliseconds from pen-up to guesses on screen.
//
// For the browser tests, `window.tryModel` holds the state: `ready` (a promise), `last` (the
// last input, probabilities and timings) and `model` (what runs).

import { createPad, pngBytes } from "./digit_pad.js";
import { describeModel, onnxInfo } from "./onnx_info.js";
import { ImageError, mnistLike } from "./preprocess.js";
import { zipFiles } from "./zip.js";

let ort = null; // ONNX Runtime Web, loaded once the build says it is there (model.json)

async function loadRuntime() {
  ort = await import("./ort/ort.wasm.min.mjs");
  // One thread: a plain static file server cannot give the page the cross-origin isolation
  // that WebAssembly threads need, and one thread reads a digit in a millisecond or two.
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;
}

/** An image's long side is reduced to this first, as mnist_helpers.preprocess does. */
const WORKING_SIZE = 512;
const TOP = 3;

const $ = (id) => document.getElementById(id);
const state = {
  session: null, // the InferenceSession that reads the digits
  model: null, // what the page says about it: {name, parameters, accuracy, ...}
  kept: [], // {label, png: Uint8Array, url}
  last: null, // {input, probabilities, digit, preprocessMs, modelMs, totalMs}
  hasDrawing: false,
  reads: 0, // how many drawings or images have been read (or refused) so far
};
let resolveReady;
window.tryModel = { ready: new Promise((resolve) => (resolveReady = resolve)), state };

function setStatus(text) {
  $("try-status").textContent = text;
}

function percent(p) {
  return `${(100 * p).toFixed(1)} %`;
}

/** Start a session from a URL or bytes and check that it reads 28x28 digits into 10
 * probabilities; throws an Error that says what is wrong with the model. */
async function openModel(source) {
  const session = await ort.InferenceSession.create(source);
  const input = session.inputMetadata?.[0];
  const shape = input?.shape ?? [];
  const wanted = [28, 28, 1];
  if (shape.length !== 4 || shape.slice(1).some((dim, i) => typeof dim === "number" && dim !== wanted[i])) {
    throw new Error(
      `it takes inputs of shape [${shape.join(", ")}], not a batch of 28 x 28 x 1 images ` +
        "(the shape the course's models take, [batch, 28, 28, 1])",
    );
  }
  const probabilities = await run(session, new Float32Array(784));
  const sum = probabilities.reduce((a, b) => a + b, 0);
  if (probabilities.length !== 10) {
    throw new Error(`it gives ${probabilities.length} numbers per image, not 10 (one per digit)`);
  }
  if (!probabilities.every((p) => Number.isFinite(p) && p >= 0) || Math.abs(sum - 1) > 1e-3) {
    throw new Error(
      `its outputs are not probabilities (they sum to ${sum.toPrecision(3)}): export a model ` +
        "whose last layer is a softmax, as the course's models are",
    );
  }
  return session;
}

async function run(session, input) {
  const tensor = new ort.Tensor("float32", input, [1, 28, 28, 1]);
  const outputs = await session.run({ [session.inputNames[0]]: tensor });
  return Array.from(outputs[session.outputNames[0]].data);
}

/** The one line that says which model runs. */
function modelLine(model) {
  const parts = [`Running: ${model.name}`];
  if (model.description) parts.push(model.description); // parameters, input and output shapes
  else if (model.parameters) parts.push(`${model.parameters.toLocaleString("en-US")} parameters`);
  parts.push(
    model.accuracy == null
      ? "test accuracy unknown (choose its run's metrics.json with it to show it)"
      : `test accuracy ${(100 * model.accuracy).toFixed(2)} % on MNIST's 10,000 test images`,
  );
  if (model.bytes) parts.push(`${(model.bytes / 1e6).toFixed(2)} MB`);
  return parts.join(" · ");
}

function useModel(session, model) {
  state.session = session;
  state.model = model;
  $("try-model-info").textContent = modelLine(model);
  setStatus(`Ready: draw a digit. ${model.name} runs in your browser.`);
}

// --------------------------------------------------------------------------- reading a digit

function drawGuesses(probabilities) {
  const order = probabilities
    .map((p, digit) => [digit, p])
    .sort((a, b) => b[1] - a[1])
    .slice(0, TOP);
  $("try-guesses").replaceChildren(
    ...order.map(([digit, p], rank) => {
      const item = document.createElement("li");
      item.className = rank === 0 ? "try-best" : "";
      const bar = document.createElement("span");
      bar.className = "try-bar";
      bar.style.width = `${Math.max(1, Math.round(p * 160))}px`;
      const digitText = document.createElement("b");
      digitText.textContent = String(digit);
      item.append(digitText, bar, ` ${percent(p)}`);
      return item;
    }),
  );
}

function drawSeen(input) {
  const seen = $("try-seen");
  const image = seen.getContext("2d").createImageData(28, 28);
  for (let i = 0; i < 784; i += 1) {
    const grey = Math.round(input[i] * 255);
    image.data.set([grey, grey, grey, 255], 4 * i);
  }
  seen.getContext("2d").putImageData(image, 0, 0);
}

/** Read the digit in `rgba` (width x height RGBA pixels) and show what the model thinks. */
async function readDigit(rgba, width, height, startedAt, what) {
  if (!state.session) return;
  let input;
  try {
    input = mnistLike(rgba, width, height).input;
  } catch (error) {
    if (!(error instanceof ImageError)) throw error;
    $("try-guesses").replaceChildren();
    setStatus(`${what}: ${error.message}`);
    state.reads += 1;
    return;
  }
  const preprocessed = performance.now();
  const probabilities = await run(state.session, input);
  const ran = performance.now();
  drawGuesses(probabilities);
  drawSeen(input);
  const digit = probabilities.indexOf(Math.max(...probabilities));
  $("try-seen").setAttribute(
    "aria-label",
    `The 28 by 28 input the model sees; the model reads it as ${digit}`,
  );
  $("try-label").value = String(digit);
  const done = performance.now();
  state.last = {
    input: Array.from(input),
    probabilities,
    digit,
    preprocessMs: preprocessed - startedAt,
    modelMs: ran - preprocessed,
    totalMs: done - startedAt,
  };
  $("try-timing").textContent =
    `Read in ${state.last.totalMs.toFixed(1)} ms from ${what === "drawing" ? "pen-up" : "opening the image"} ` +
    `(recipe ${state.last.preprocessMs.toFixed(1)} ms, model ${state.last.modelMs.toFixed(1)} ms)`;
  setStatus(`The model reads your ${what} as ${digit} (${percent(probabilities[digit])}).`);
  state.reads += 1;
}

async function onPenUp(canvas) {
  const startedAt = performance.now();
  state.hasDrawing = true;
  $("try-keep").disabled = false;
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  await readDigit(pixels.data, canvas.width, canvas.height, startedAt, "drawing");
}

async function onUpload(file) {
  const startedAt = performance.now();
  let bitmap;
  try {
    bitmap = await createImageBitmap(file); // turned upright as its EXIF tag says
  } catch {
    setStatus(`${file.name}: not an image this browser can read; choose a PNG or JPEG file`);
    state.reads += 1;
    return;
  }
  const scale = Math.min(1, WORKING_SIZE / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0, width, height);
  const pixels = context.getImageData(0, 0, width, height);
  await readDigit(pixels.data, width, height, startedAt, `image ${file.name}`);
}

// --------------------------------------------------------------------------- keeping drawings

function keepDrawing(canvas) {
  const label = Number($("try-label").value);
  const png = pngBytes(canvas);
  const url = URL.createObjectURL(new Blob([png], { type: "image/png" }));
  state.kept.push({ label, png, url });
  const item = document.createElement("li");
  const image = document.createElement("img");
  image.src = url;
  image.alt = `a drawn ${label}, kept`;
  image.width = image.height = 56;
  const caption = document.createElement("span");
  caption.textContent = String(label);
  item.append(image, caption);
  $("try-kept").append(item);
  $("try-download").disabled = false;
  $("try-download").textContent = `Download the ${state.kept.length} kept drawings (.zip)`;
}

function downloadKept() {
  const files = state.kept.map(({ label, png }, i) => ({
    name: `drawn_${String(i + 1).padStart(3, "0")}_${label}.png`,
    bytes: png,
  }));
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([zipFiles(files)], { type: "application/zip" }));
  link.download = "drawn_digits.zip";
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

// --------------------------------------------------------------------------- models

async function loadOwnModel(files) {
  const onnxFile = files.find((file) => file.name.toLowerCase().endsWith(".onnx"));
  const metricsFile = files.find((file) => file.name.toLowerCase().endsWith(".json"));
  const error = $("try-model-error");
  error.textContent = "";
  if (!onnxFile) {
    error.textContent = "Choose a .onnx file (python -m mnist_helpers.export RUN --format onnx makes one).";
    return;
  }
  const keeps = state.model ? ` The page keeps ${state.model.name}.` : "";
  if (!ort) {
    error.textContent = "The model runtime is missing from this site, so no model can run: build it again with make site.";
    return;
  }
  try {
    const bytes = new Uint8Array(await onnxFile.arrayBuffer());
    const info = onnxInfo(bytes); // a clear message for a file that is not an ONNX model
    let session;
    try {
      session = await openModel(bytes);
    } catch (reason) {
      throw new Error(`${onnxFile.name} is an ONNX model, but ${reason.message ?? reason}`);
    }
    let accuracy = info.metadata.test_accuracy ? Number(info.metadata.test_accuracy) : null;
    // Keras counts batch normalisation's running statistics too, which the ONNX export folds
    // into the convolutions: a run's own count (metadata or metrics.json) comes first.
    let parameters = Number(info.metadata.parameters) || info.parameters;
    if (metricsFile) {
      try {
        const metrics = JSON.parse(await metricsFile.text());
        if (typeof metrics.test_accuracy === "number") accuracy = metrics.test_accuracy;
        if (typeof metrics.parameters === "number") parameters = metrics.parameters;
      } catch {
        error.textContent = `${metricsFile.name} is not a run's metrics.json (not valid JSON): accuracy not shown.`;
      }
    }
    useModel(session, {
      name: `${onnxFile.name} (your file)`,
      parameters,
      accuracy,
      bytes: bytes.length,
      description: describeModel({ ...info, parameters }),
    });
    if (state.hasDrawing) await onPenUp($("try-canvas"));
  } catch (reason) {
    const message = String(reason.message ?? reason);
    error.textContent = `${message.startsWith(onnxFile.name) ? "" : `${onnxFile.name}: `}${message}.${keeps}`;
  }
}

async function loadSiteModels() {
  let manifest;
  try {
    manifest = await (await fetch(new URL("./model.json", import.meta.url))).json();
  } catch {
    setStatus("This site was built without the page's model list (model.json): build it again with make site.");
    return;
  }
  if (!manifest.runtime) {
    setStatus(
      "The model runtime (ONNX Runtime Web) is missing: the site was built offline. " +
        "Build it again with a connection to the npm registry (make site).",
    );
    return;
  }
  await loadRuntime();
  if (!manifest.models.length) {
    setStatus(`The model is missing. ${manifest.missing} You can still run your own model below.`);
    return;
  }
  const variant = $("try-variant");
  for (const model of manifest.models) {
    const option = document.createElement("option");
    option.value = model.file;
    option.textContent = `${model.label} (${(model.bytes / 1e6).toFixed(2)} MB)`;
    variant.append(option);
  }
  $("try-variant-label").hidden = manifest.models.length < 2;
  const open = async (file) => {
    const model = manifest.models.find((m) => m.file === file);
    const session = await openModel(new URL(`./${file}`, import.meta.url).href);
    useModel(session, {
      name: `the course's model (run ${model.run}, ${model.label})`,
      parameters: Number(model.parameters),
      accuracy: model.test_accuracy === "" ? null : Number(model.test_accuracy),
      bytes: model.bytes,
    });
  };
  variant.addEventListener("change", async () => {
    await open(variant.value);
    if (state.hasDrawing) await onPenUp($("try-canvas"));
  });
  await open(manifest.models[0].file);
}

// --------------------------------------------------------------------------- start

const canvas = $("try-canvas");
const pad = createPad(canvas, onPenUp);
$("try-clear").addEventListener("click", () => {
  pad.clear();
  state.hasDrawing = false;
  $("try-keep").disabled = true;
  $("try-guesses").replaceChildren();
  $("try-timing").textContent = "";
  $("try-seen").getContext("2d").clearRect(0, 0, 28, 28);
  setStatus("Cleared: draw a digit.");
});
$("try-upload").addEventListener("change", async (event) => {
  if (event.target.files.length) await onUpload(event.target.files[0]);
  event.target.value = ""; // choosing the same file again reads it again
});
$("try-keep").addEventListener("click", () => keepDrawing(canvas));
$("try-download").addEventListener("click", downloadKept);
$("try-own-model").addEventListener("change", async (event) => {
  if (event.target.files.length) await loadOwnModel(Array.from(event.target.files));
  event.target.value = "";
});
loadSiteModels()
  .catch((error) => setStatus(`The model could not start: ${error.message ?? error}`))
  .finally(() => resolveReady());
