// The digit pad: draw a digit with a mouse, a finger or a pen, white ink on a black square.
//
// The drawing happens here, in the browser, as fast as the pointer moves: no stroke waits for
// Python. When the pen lifts, the whole drawing is handed over at once, so whoever reads it
// (notebook 06's model in Python, or a web page's own model) always sees every stroke.
//
// `createPad` is plain browser JavaScript with no Jupyter in it: any page can use it,
//   import { createPad } from "./digit_pad.js";
//   createPad(document.querySelector("canvas"), (canvas) => { /* read the drawing */ });
// The default export is the same pad as a Jupyter widget (anywidget), which
// mnist_helpers.canvas.draw_and_predict wraps.

/** The pen's width as a fraction of the pad's side: about MNIST's stroke, relative to a digit. */
export const PEN_FRACTION = 1 / 14;

/**
 * Make `canvas` a pad: painted black, drawn on in white with a round pen `width / 14` wide.
 * `onPenUp(canvas)` is called each time the pen lifts, with every stroke so far on the canvas.
 * Returns `{ clear, destroy }`: paint it black again; remove the pad's event listeners.
 */
export function createPad(canvas, onPenUp) {
  const context = canvas.getContext("2d", { willReadFrequently: true });
  let last = null; // where the pen is while it is down; null while it is up

  function clear() {
    context.fillStyle = "black";
    context.fillRect(0, 0, canvas.width, canvas.height);
  }

  function at(event) {
    // in the canvas's own pixels, even when the page shows it larger or smaller
    return [
      (event.offsetX * canvas.width) / canvas.clientWidth,
      (event.offsetY * canvas.height) / canvas.clientHeight,
    ];
  }

  function line(from, to) {
    context.strokeStyle = "white";
    context.lineWidth = canvas.width * PEN_FRACTION;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.beginPath();
    context.moveTo(...from);
    context.lineTo(...to);
    context.stroke();
  }

  function down(event) {
    if (event.button !== 0) return; // the main button (a mouse's left one, a finger, a pen)
    canvas.setPointerCapture(event.pointerId); // the stroke goes on if the pen leaves the pad
    last = at(event);
    line(last, last); // a click makes a dot
    event.preventDefault();
  }

  function move(event) {
    if (last === null) return;
    const here = at(event);
    line(last, here);
    last = here;
  }

  function up() {
    if (last === null) return;
    last = null;
    onPenUp(canvas);
  }

  const listeners = {
    pointerdown: down,
    pointermove: move,
    pointerup: up,
    pointercancel: up,
  };
  for (const [name, listener] of Object.entries(listeners)) {
    canvas.addEventListener(name, listener);
  }
  canvas.style.touchAction = "none"; // a finger draws instead of scrolling the page
  clear();
  return {
    clear,
    destroy() {
      for (const [name, listener] of Object.entries(listeners)) {
        canvas.removeEventListener(name, listener);
      }
    },
  };
}

/** The canvas as PNG bytes (a few kilobytes for a digit), ready to send. */
export function pngBytes(canvas) {
  const base64 = canvas.toDataURL("image/png").split(",")[1];
  return Uint8Array.from(atob(base64), (character) => character.charCodeAt(0));
}

// The Jupyter widget (anywidget): its model has `size` (the side, in pixels) and `drawing`
// (PNG bytes, sent at each pen-up); Python's message {type: "clear"} paints the pad black.
function render({ model, el }) {
  const canvas = document.createElement("canvas");
  const size = model.get("size");
  canvas.width = canvas.height = size;
  Object.assign(canvas.style, {
    width: `${size}px`,
    height: `${size}px`,
    border: "1px solid #888",
    display: "block",
  });
  const pad = createPad(canvas, () => {
    model.set("drawing", new DataView(pngBytes(canvas).buffer));
    model.save_changes();
  });
  const onMessage = (message) => {
    if (message?.type === "clear") pad.clear();
  };
  model.on("msg:custom", onMessage);
  el.appendChild(canvas);
  return () => {
    model.off("msg:custom", onMessage);
    pad.destroy();
  };
}

export default { render };
