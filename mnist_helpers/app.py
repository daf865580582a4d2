"""06's digit pad on a page of its own, served by Voila: for a class to watch and try.

``make app`` (or ``python -m mnist_helpers.app``) starts `Voila <https://voila.readthedocs.io>`_
on ``app/digit_pad.ipynb`` and opens it in the browser: the canvas of notebook 06, the
model's three best guesses and the 28x28 picture it sees, a *Clear* button, and no code.
It uses the default run's model (``runs/default/model.keras``, trained by 03 or
``make run``) or the one named with ``--model``. It loads the model once before it starts:
without a model it says how to train one, and on a model it cannot load (truncated, not a
``.keras`` file, refused by safe mode) it says what is wrong; either way it starts nothing.

The page reads the model's path from the variable ``DIGIT_PAD_MODEL`` (this command sets
it), so the notebook also works when Voila or JupyterLab open it directly.

Taught in 06 (the canvas); this module only serves it.
"""

from __future__ import annotations

import argparse
import html
import os
import subprocess
import sys
from pathlib import Path

from mnist_helpers.console import quiet_stderr
from mnist_helpers.paths import project_root, runs_dir

#: The app's folder in the course: the notebook Voila serves, and the page's template.
APP_FOLDER = Path("app")

#: The notebook Voila serves.
APP_NOTEBOOK = APP_FOLDER / "digit_pad.ipynb"

#: The variable that carries the model's path from this command to the page's kernel.
MODEL_VARIABLE = "DIGIT_PAD_MODEL"

#: Voila's usual port.
DEFAULT_PORT = 8866

#: The page's Voila template, ``app/voila/templates/digit-pad/``: Voila's own "lab" page
#: without its stylesheets from a CDN, so that an offline classroom asks no other host.
TEMPLATE = "digit-pad"


def default_model_path() -> Path:
    """The model the pad uses: ``$DIGIT_PAD_MODEL``, else the default run's ``model.keras``."""
    chosen = os.environ.get(MODEL_VARIABLE)
    return Path(chosen) if chosen else runs_dir() / "default" / "model.keras"


def missing_model_message(model_path: Path) -> str:
    """What to do when ``model_path`` does not exist: how to train one, or name another."""
    return (
        f"No trained model at {model_path}. Train the default one first: `make run` (its "
        "notebook 03 trains it, about 3 minutes on a laptop CPU) or run notebook 03 in "
        "JupyterLab; or name another: `make app MODEL=path/to/model.keras`."
    )


def digit_pad_app(model_path: str | Path | None = None):
    """The app's page: a title line naming the model, then 06's digit pad.

    Args:
        model_path: a trained ``.keras`` model (default: :func:`default_model_path`).

    Returns:
        an ``ipywidgets`` box to display; when the model is missing or cannot be loaded, a
        box with a message saying so instead of the pad (nothing raises on the page).
    """
    import ipywidgets as widgets

    from mnist_helpers.canvas import draw_and_predict
    from mnist_helpers.runtimes import load_predictor

    model_path = Path(model_path) if model_path else default_model_path()
    if not model_path.is_file():
        return _message_box(missing_model_message(model_path))
    try:
        with quiet_stderr():  # TensorFlow's start-up lines are not for the class
            predictor = load_predictor(model_path)
    except Exception as err:  # whatever it is, the page says it in words, not "error"
        return _message_box(cannot_load_message(model_path, str(err) or type(err).__name__))
    title = widgets.HTML(
        f"<small>model: <code>{html.escape(_shown(model_path))}</code>, "
        f"run by {html.escape(str(predictor.runtime))}</small>"
    )
    return widgets.VBox([title, draw_and_predict(predictor)])


def cannot_load_message(model_path: Path, why: str) -> str:
    """What to do when the model at ``model_path`` exists but cannot be loaded, and ``why``."""
    why = why.strip().rstrip(".")
    if str(model_path) not in why:  # the course's own errors name the file; others may not
        why = f"{model_path}: {why}"
    return (
        f"Cannot use the model: {why}. Name another: `make app MODEL=path/to/model.keras`, "
        "or train the default one: `make run`."
    )


def _message_box(message: str):
    """A page that shows ``message`` (escaped) in red, instead of the pad."""
    import ipywidgets as widgets

    shown = f"<p style='color:#b00020'><b>{html.escape(message)}</b></p>"
    return widgets.VBox([widgets.HTML(shown)])


def _shown(path: Path) -> str:
    """``path`` relative to the course when it is inside it (shorter on a projector)."""
    path = path.resolve()
    root = project_root().resolve()
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def voila_arguments(port: int = DEFAULT_PORT, open_browser: bool = True) -> list[str]:
    """Voila's command-line arguments: the app notebook on 127.0.0.1:``port``."""
    arguments = [
        str(project_root() / APP_NOTEBOOK),
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--theme=light",
        f"--template={TEMPLATE}",
    ]
    if not open_browser:
        arguments.append("--no-browser")
    return arguments


def main(argv: list[str] | None = None) -> int:
    """Command line: check the model, then run Voila until Ctrl+C. Returns the exit status.

    0: Voila ran and was stopped; 2: no model at the path (the message says how to train
    one), a model that cannot be loaded (the message says why), a port out of range, or
    Voila is not installed.
    """
    parser = argparse.ArgumentParser(
        prog="python -m mnist_helpers.app",
        description="Serve 06's digit pad on its own page (Voila), for a class to watch.",
    )
    parser.add_argument(
        "--model", type=Path, default=None, help="a .keras file (default: runs/default/model.keras)"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="default: %(default)s")
    parser.add_argument(
        "--no-browser", action="store_true", help="do not open a browser (print the address)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error(f"--port must be between 1 and 65535, got {args.port}")
    model_path = (args.model or default_model_path()).resolve()
    if not model_path.exists():
        print(f"app: {missing_model_message(model_path)}", file=sys.stderr)
        return 2
    problem = _load_problem(model_path)
    if problem:
        print(f"app: {problem}", file=sys.stderr)
        return 2
    try:
        from voila.app import Voila
    except ImportError:
        print(
            "app: Voila is not installed: run `make setup` (or pip install voila)",
            file=sys.stderr,
        )
        return 2
    address = f"http://127.0.0.1:{args.port}/"
    print(f"Serving the digit pad with {model_path} on {address} (Ctrl+C stops)")
    # Voila runs in this process (not a child), so that stopping this command, with Ctrl+C
    # or a signal, stops Voila and its kernels too; the kernels inherit the variable.
    os.environ[MODEL_VARIABLE] = str(model_path)
    # Voila looks for templates on Jupyter's data path; app/ holds the page's own.
    data_path = [str(project_root() / APP_FOLDER), os.environ.get("JUPYTER_PATH", "")]
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, data_path))
    Voila.launch_instance(argv=voila_arguments(args.port, not args.no_browser))
    return 0


def _load_problem(model_path: Path) -> str:
    """Why the page could not load ``model_path``, or "".

    The model is loaded once, safely, in a child process: Voila's server runs in this one,
    and would otherwise keep TensorFlow in memory (hundreds of MB) for as long as it serves.
    """
    code = "import sys; from mnist_helpers.app import _check_model; _check_model(sys.argv[1])"
    done = subprocess.run(
        [sys.executable, "-c", code, str(model_path)], capture_output=True, text=True
    )
    if done.returncode == 0:
        return ""
    crashed = done.stderr.strip().splitlines()[-1:]  # the error line, if it crashed
    return done.stdout.strip() or cannot_load_message(model_path, "".join(crashed))


def _check_model(model_path: str) -> None:
    """Load ``model_path`` safely; if it cannot be, print why and exit 2 (see above)."""
    from mnist_helpers.predict import ModelFileError, load_model_safely

    try:
        with quiet_stderr():  # TensorFlow's start-up lines are not for the class
            load_model_safely(model_path)
    except (OSError, ModelFileError) as err:
        print(cannot_load_message(Path(model_path), str(err)))
        sys.exit(2)


if __name__ == "__main__":
    sys.exit(main())
