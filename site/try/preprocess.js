// The course's recipe for an MNIST-like input, in the browser: mnist_helpers/preprocess.py's
// `mnist_like`, step by step, with the same names in camelCase and the same error messages.
//
//   grayscale -> ink on black -> cropped -> 20x20 box -> 28x28 centred
//
// It takes a canvas's RGBA bytes (what getImageData gives) and returns the 784 values the model
// takes as shape [1, 28, 28, 1]. Each step does the arithmetic the Python code does, so that a
// drawing on the pad gets Python's input to the bit (tests/test_try_preprocess.py checks it):
// - NumPy works in float32: here each value goes through Math.fround, or is stored in a
//   Float32Array, where NumPy rounds to float32; ink * 255 is cut to a byte, not rounded.
// - The grey level is NumPy's float32 `rgb @ [0.299, 0.587, 0.114]` as OpenBLAS computes it on
//   x86-64: r * 0.299, then + g * 0.587, then + b * 0.114, each a fused multiply-add. NumPy
//   takes another order for RGBA arrays and for the last (width mod 8) columns of RGB ones, and
//   other machines other kernels: a grey level may then differ in its last bit, and a pixel of
//   the input by one grey level.
// - The 20x20 box is Pillow 13's `Image.resize(size, LANCZOS)` on bytes: a pass along the rows
//   and one along the columns, each with integer weights (22 fractional bits) and its result
//   rounded and clipped to a byte; a pass whose size stays is skipped, and the columns go first
//   when the height shrinks by more than twice as many pixels as the width.
// - Sums are NumPy's pairwise sums, and rounding is Python's (halves to even), so that the
//   centre of mass, and with it where the digit lands in 28x28, is Python's to the last bit.
// Only the pixel loops are written for speed: typed arrays, no allocation per pixel.

/** After contrast stretching, pixels above this count as ink when cropping (INK_THRESHOLD). */
export const INK_THRESHOLD = 0.2;
/** The longer side of the box the digit is scaled into (box_size's 20). */
export const BOX = 20;
/** The side of the model's input (pad_and_center's 28). */
export const SIZE = 28;

/** An image cannot become an MNIST input; the message says why and what to do. */
export class ImageError extends Error {
  constructor(message) {
    super(message);
    this.name = "ImageError";
  }
}

// ------------------------------------------------------------------------- float32 arithmetic

const f32 = Math.fround;
/** The threshold as NumPy compares it with a float32 array: as a float32. */
const THRESHOLD32 = f32(INK_THRESHOLD);
/** Each byte 0-255 as float32(byte / 255), as `array.astype(np.float32) / 255.0` gives it. */
const BYTE_TO_FLOAT = Float32Array.from({ length: 256 }, (_, byte) => byte / 255);
const [RED, GREEN, BLUE] = [0.299, 0.587, 0.114].map(f32);

/**
 * a * b + c rounded once to float32, as a fused multiply-add does (a, b, c: float32 values).
 * The product of two float32s is exact in a double; the sum is rounded to a double and then to
 * float32, which can differ from a single rounding only when the double lands exactly halfway
 * between two float32s: then the sum's rounding error says which way to go.
 */
function fusedMultiplyAdd32(a, b, c) {
  const product = a * b;
  const sum = product + c;
  const rounded = f32(sum);
  const mirrored = 2 * sum - rounded; // the other float32 neighbour, if sum is halfway
  if (mirrored === rounded || f32(mirrored) !== mirrored) return rounded;
  const part = sum - product;
  const error = product - (sum - part) + (c - part); // sum + error = product + c, exactly
  if (error === 0) return rounded; // a true tie: ties to even, as f32 did
  return error > 0 ? Math.max(rounded, mirrored) : Math.min(rounded, mirrored);
}

/** The grey level of float32 red, green, blue: NumPy's float32 `rgb @ [0.299, 0.587, 0.114]`. */
function luminance(red, green, blue) {
  return fusedMultiplyAdd32(blue, BLUE, fusedMultiplyAdd32(green, GREEN, f32(red * RED)));
}

/** The grey level of each grey pixel (red = green = blue = byte), computed once. */
const GREY_OF_BYTE = Float32Array.from(BYTE_TO_FLOAT, (value) => luminance(value, value, value));

/**
 * NumPy's sum of values[start .. start + count): pairwise, eight running sums in blocks of up
 * to 128 values, each addition rounded to float32 when `float32` (a float32 array's sum).
 */
function pairwiseSum(values, start, count, float32) {
  const round = float32 ? f32 : (x) => x;
  if (count < 8) {
    let total = 0;
    for (let i = start; i < start + count; i++) total = round(total + values[i]);
    return total;
  }
  if (count <= 128) {
    const partial = new Float64Array(8); // eight sums, 8 values apart
    for (let j = 0; j < 8; j++) partial[j] = values[start + j];
    const whole = count - (count % 8);
    let i = 8;
    for (; i < whole; i += 8) {
      for (let j = 0; j < 8; j++) partial[j] = round(partial[j] + values[start + i + j]);
    }
    let total = round(
      round(round(partial[0] + partial[1]) + round(partial[2] + partial[3])) +
        round(round(partial[4] + partial[5]) + round(partial[6] + partial[7])),
    );
    for (; i < count; i++) total = round(total + values[start + i]);
    return total;
  }
  let half = Math.floor(count / 2);
  half -= half % 8;
  return round(
    pairwiseSum(values, start, half, float32) +
      pairwiseSum(values, start + half, count - half, float32),
  );
}

/** The median of float32 values, as np.median gives it for a float32 array. */
function median32(values) {
  const sorted = Float32Array.from(values).sort();
  const middle = sorted.length >> 1;
  if (sorted.length % 2) return sorted[middle];
  return f32(f32(sorted[middle - 1] + sorted[middle]) / 2);
}

/** Python's round(): to the nearest integer, halves to the even one. */
function roundHalfEven(x) {
  const nearest = Math.round(x); // halves go up here
  return nearest - x === 0.5 && nearest % 2 !== 0 ? nearest - 1 : nearest;
}

// ----------------------------------------------------------------------------- the steps

/**
 * A grey image in [0, 1], row-major (to_grayscale): luminance weights 0.299, 0.587, 0.114,
 * transparent pixels laid onto white paper.
 * @param {Uint8ClampedArray|Uint8Array} rgba 4 bytes a pixel, row by row (getImageData's data)
 * @param {number} width
 * @param {number} height
 * @param {Float32Array} [gray] where to write the width * height grey levels (default: a new
 *   array)
 * @returns {Float32Array} the grey levels
 */
export function toGrayscale(rgba, width, height, gray = new Float32Array(width * height)) {
  if (width * height === 0) {
    throw new ImageError(`the image is empty (shape (${height}, ${width}, 4))`);
  }
  if (rgba.length !== width * height * 4) {
    throw new ImageError(
      `expected RGBA pixels, 4 bytes for each of ${width}x${height} pixels ` +
        `(${width * height * 4} values), got ${rgba.length}`,
    );
  }
  for (let i = 0, p = 0; i < width * height; i++, p += 4) {
    const red = rgba[p];
    const green = rgba[p + 1];
    const blue = rgba[p + 2];
    const alpha = rgba[p + 3];
    let value =
      red === green && green === blue
        ? GREY_OF_BYTE[red]
        : luminance(BYTE_TO_FLOAT[red], BYTE_TO_FLOAT[green], BYTE_TO_FLOAT[blue]);
    if (alpha !== 255) {
      const opacity = BYTE_TO_FLOAT[alpha]; // transparent: white paper shows through
      value = f32(f32(value * opacity) + f32(1 - opacity));
    }
    gray[i] = value;
  }
  return gray;
}

/** The first row, the last row, the first column and the last column, one after the other. */
function border(image, width, height) {
  const values = new Float32Array(2 * width + 2 * height);
  let n = 0;
  for (let x = 0; x < width; x++) values[n++] = image[x];
  for (let x = 0; x < width; x++) values[n++] = image[(height - 1) * width + x];
  for (let y = 0; y < height; y++) values[n++] = image[y * width];
  for (let y = 0; y < height; y++) values[n++] = image[y * width + width - 1];
  return values;
}

/**
 * Ink bright on black (ink_on_black): inverted if the border's median is light, the
 * background 0 and the strongest ink 1; an ImageError for a blank image.
 * @param {Float32Array} gray grey levels in [0, 1], row-major
 * @param {number} width
 * @param {number} height
 * @param {Float32Array} [ink] where to write the ink (default: a new array; `gray` itself
 *   works too)
 * @returns {Float32Array} the ink, in [0, 1]
 */
export function inkOnBlack(gray, width, height, ink = new Float32Array(gray.length)) {
  const edge = border(gray, width, height);
  const invert = median32(edge) > 0.5; // light paper: the ink is what is dark
  if (invert) {
    for (let i = 0; i < edge.length; i++) edge[i] = 1 - edge[i]; // the border of 1 - gray
  }
  const background = median32(edge);
  let peak = 0;
  for (let i = 0; i < gray.length; i++) {
    const value = Math.max(f32((invert ? f32(1 - gray[i]) : gray[i]) - background), 0);
    ink[i] = value;
    if (value > peak) peak = value;
  }
  if (peak < 0.1) {
    throw new ImageError(
      "no ink found: the image is blank (one flat colour); draw or photograph a digit",
    );
  }
  if (peak !== 1) {
    for (let i = 0; i < gray.length; i++) ink[i] = ink[i] / peak; // stored as float32
  }
  return ink;
}

/**
 * Crop to the bounding box of the pixels brighter than INK_THRESHOLD (crop_to_ink).
 * @param {Float32Array} ink row-major
 * @param {number} width
 * @param {number} height
 * @returns {{pixels: Float32Array, width: number, height: number}}
 */
export function cropToInk(ink, width, height) {
  let top = height;
  let bottom = -1;
  let left = width;
  let right = -1;
  for (let y = 0; y < height; y++) {
    const row = y * width;
    let x = 0;
    while (x < width && !(ink[row + x] > THRESHOLD32)) x++;
    if (x === width) continue; // no ink in this row
    if (top === height) top = y;
    bottom = y;
    if (x < left) left = x;
    let last = width - 1; // from the right, down to the first ink found
    while (!(ink[row + last] > THRESHOLD32)) last--;
    if (last > right) right = last;
  }
  if (bottom < 0) {
    throw new ImageError(`no ink above ${INK_THRESHOLD} found: the digit is too faint`);
  }
  const cropWidth = right - left + 1;
  const cropHeight = bottom - top + 1;
  const pixels = new Float32Array(cropWidth * cropHeight);
  for (let y = 0; y < cropHeight; y++) {
    const from = (top + y) * width + left;
    pixels.set(ink.subarray(from, from + cropWidth), y * cropWidth);
  }
  return { pixels, width: cropWidth, height: cropHeight };
}

/**
 * The [height, width] with BOX (20) pixels on the longer side, the other scaled alike and
 * rounded (halves to even, as Python's round), never below 1 (box_size).
 * @param {number} height
 * @param {number} width
 * @returns {[number, number]}
 */
export function boxSize(height, width) {
  const scale = BOX / Math.max(height, width);
  return [Math.max(1, roundHalfEven(height * scale)), Math.max(1, roundHalfEven(width * scale))];
}

// Pillow's Lanczos resampling of 8-bit images (src/libImaging/Resample.c, ImagingResample).

/** Weights are integers with this many fractional bits (Pillow's PRECISION_BITS). */
const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);
const LANCZOS_SUPPORT = 3;

/** sin(pi x) / (pi x), 1 at 0. */
function sinc(x) {
  if (x === 0) return 1;
  const angle = x * Math.PI;
  return Math.sin(angle) / angle;
}

/** The Lanczos window with a = 3: sinc(x) sinc(x / 3) on [-3, 3), 0 outside. */
function lanczos(x) {
  return x >= -LANCZOS_SUPPORT && x < LANCZOS_SUPPORT ? sinc(x) * sinc(x / 3) : 0;
}

/**
 * For each output pixel along one axis, the first input pixel it reads, how many it reads,
 * and their integer weights: `weights[out * taps + k]` for input `first[out] + k`.
 * Shrinking widens the window by the scale, so that every input pixel counts.
 */
function lanczosWeights(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = LANCZOS_SUPPORT * filterScale;
  const taps = Math.ceil(support) * 2 + 1; // the most input pixels one output pixel reads
  const inverseScale = 1 / filterScale;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * taps);
  const real = new Float64Array(taps);
  for (let out = 0; out < outSize; out++) {
    const center = (out + 0.5) * scale; // in input pixels
    const start = Math.max(0, Math.trunc(center - support + 0.5));
    const end = Math.min(inSize, Math.trunc(center + support + 0.5));
    let total = 0;
    for (let k = 0; k < end - start; k++) {
      real[k] = lanczos((k + start - center + 0.5) * inverseScale);
      total += real[k];
    }
    for (let k = 0; k < end - start; k++) {
      const weight = total !== 0 ? real[k] / total : real[k];
      const fixed = weight * (1 << PRECISION_BITS);
      weights[out * taps + k] = Math.trunc(weight < 0 ? fixed - 0.5 : fixed + 0.5);
    }
    first[out] = start;
    count[out] = end - start;
  }
  return { first, count, weights, taps };
}

/** A weighted sum in fixed point, back to a byte: rounded, then clipped to 0-255. */
function toByte(sum) {
  const value = sum >> PRECISION_BITS;
  return value < 0 ? 0 : value > 255 ? 255 : value;
}

/**
 * One pass along rows (`step` 1) or columns (`step` = the image's width): each of `lines`
 * lines of `length` input pixels becomes `weights.first.length` output pixels. `lineStep` is
 * the distance from one line to the next in the input; the output is row-major, the same way
 * round. Only the stretch of a line between its first and last inked pixel is read: the black
 * pixels around it add nothing to a sum.
 */
function resamplePass(bytes, lines, length, lineStep, step, { first, count, weights, taps }) {
  const outLength = first.length;
  const out = new Uint8Array(lines * outLength);
  const outLineStep = step === 1 ? outLength : 1; // rows of the output, or its columns
  const outStep = step === 1 ? 1 : lines;
  for (let line = 0; line < lines; line++) {
    const start = line * lineStep;
    let inkFirst = 0;
    while (inkFirst < length && bytes[start + inkFirst * step] === 0) inkFirst++;
    if (inkFirst === length) continue; // a black line stays black
    let inkEnd = length;
    while (bytes[start + (inkEnd - 1) * step] === 0) inkEnd--;
    for (let o = 0; o < outLength; o++) {
      const from = Math.max(first[o], inkFirst);
      const to = Math.min(first[o] + count[o], inkEnd);
      let sum = HALF; // in 32-bit integers, as Pillow's C code adds them
      for (let x = from, w = o * taps + from - first[o]; x < to; x++, w++) {
        sum = (sum + bytes[start + x * step] * weights[w]) | 0;
      }
      out[line * outLineStep + o * outStep] = toByte(sum);
    }
  }
  return out;
}

/**
 * Resize 8-bit grey pixels as Pillow 13's `Image.resize((outWidth, outHeight), LANCZOS)`:
 * a pass along the rows and a pass along the columns, each skipped when its size stays; the
 * columns go first when the height shrinks, by more than twice as many pixels as the width.
 */
function resizeLanczos(bytes, width, height, outWidth, outHeight) {
  const alongRows = outWidth !== width ? lanczosWeights(width, outWidth) : null;
  const alongColumns = outHeight !== height ? lanczosWeights(height, outHeight) : null;
  let image = bytes;
  if (outHeight < height && height - outHeight > 2 * (width - outWidth)) {
    image = resamplePass(image, width, height, 1, width, alongColumns);
    return alongRows ? resamplePass(image, outHeight, width, width, 1, alongRows) : image;
  }
  if (alongRows) image = resamplePass(image, height, width, width, 1, alongRows);
  return alongColumns ? resamplePass(image, outWidth, height, 1, outWidth, alongColumns) : image;
}

/**
 * Scale (anti-aliased) to boxSize: 20 pixels on the longer side (fit_in_box). Like Python,
 * the ink becomes bytes (ink * 255, cut to an integer), Pillow's Lanczos resizes them, and
 * the result is divided by 255.
 * @param {Float32Array} ink row-major, in [0, 1]
 * @param {number} width
 * @param {number} height
 * @returns {{pixels: Float32Array, width: number, height: number}}
 */
export function fitInBox(ink, width, height) {
  const [boxHeight, boxWidth] = boxSize(height, width);
  const bytes = new Uint8Array(ink.length);
  for (let i = 0; i < ink.length; i++) bytes[i] = Math.trunc(f32(ink[i] * 255));
  const resized = resizeLanczos(bytes, width, height, boxWidth, boxHeight);
  const pixels = new Float32Array(resized.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = BYTE_TO_FLOAT[resized[i]];
  return { pixels, width: boxWidth, height: boxHeight };
}

/**
 * The [row, column] of the intensity-weighted centre of an image (center_of_mass).
 * @param {Float32Array} image row-major
 * @param {number} width
 * @param {number} height
 * @returns {[number, number]}
 */
export function centerOfMass(image, width, height) {
  const total = pairwiseSum(image, 0, image.length, true);
  if (total === 0) throw new ImageError("cannot centre an empty image");
  const byRow = new Float64Array(image.length); // row * intensity, as NumPy's float64 products
  const byColumn = new Float64Array(image.length);
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      byRow[i] = y * image[i];
      byColumn[i] = x * image[i];
    }
  }
  return [
    pairwiseSum(byRow, 0, image.length, false) / total,
    pairwiseSum(byColumn, 0, image.length, false) / total,
  ];
}

/**
 * Place a small image in a 28x28 field with its centre of mass in the centre
 * (pad_and_center).
 * @param {Float32Array} small row-major
 * @param {number} width
 * @param {number} height
 * @returns {Float32Array} 784 values, row-major
 */
export function padAndCenter(small, width, height) {
  if (height > SIZE || width > SIZE) {
    throw new ImageError(`a ${height}x${width} image does not fit in ${SIZE}x${SIZE}`);
  }
  const [row, column] = centerOfMass(small, width, height);
  const middle = (SIZE - 1) / 2;
  const top = Math.min(Math.max(roundHalfEven(middle - row), 0), SIZE - height);
  const left = Math.min(Math.max(roundHalfEven(middle - column), 0), SIZE - width);
  const field = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < height; y++) {
    field.set(small.subarray(y * width, (y + 1) * width), (top + y) * SIZE + left);
  }
  return field;
}

/**
 * Room for the grey image and then the ink, reused from one mnistLike call to the next:
 * writing into new memory costs more than the arithmetic done there (its first touch).
 */
let scratch = new Float32Array(0);

/**
 * Turn a canvas's pixels into the model's input, as mnist_like does: grayscale, ink on
 * black, cropped, into the 20x20 box, centred by centre of mass in 28x28.
 * @param {Uint8ClampedArray|Uint8Array} rgba 4 bytes a pixel, row by row (getImageData's data)
 * @param {number} width
 * @param {number} height
 * @param {{returnSteps?: boolean}} [options] returnSteps: also return each step's image
 * @returns {{input: Float32Array, steps?: Object<string, {pixels: Float32Array, width: number,
 *   height: number}>}} input: 784 values in [0, 1], row-major, the model's [1, 28, 28, 1];
 *   steps, by Python's names: "grayscale", "ink on black", "cropped", "20x20 box",
 *   "28x28 centred"
 * @throws {ImageError} with Python's message when the image cannot be used (e.g. blank)
 */
export function mnistLike(rgba, width, height, { returnSteps = false } = {}) {
  let gray;
  let ink;
  if (returnSteps) {
    gray = toGrayscale(rgba, width, height);
    ink = inkOnBlack(gray, width, height);
  } else {
    if (scratch.length < width * height) scratch = new Float32Array(width * height);
    gray = toGrayscale(rgba, width, height, scratch.subarray(0, width * height));
    ink = inkOnBlack(gray, width, height, gray); // in place: the grey image is not kept
  }
  const cropped = cropToInk(ink, width, height);
  const box = fitInBox(cropped.pixels, cropped.width, cropped.height);
  const input = padAndCenter(box.pixels, box.width, box.height);
  if (!returnSteps) return { input };
  return {
    input,
    steps: {
      grayscale: { pixels: gray, width, height },
      "ink on black": { pixels: ink, width, height },
      cropped,
      "20x20 box": box,
      "28x28 centred": { pixels: input, width: SIZE, height: SIZE },
    },
  };
}
