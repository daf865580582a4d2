"""06's digit pad on a page of its own, for a class: ``make app`` (``python -m mnist_helpers.app
[--model M] [--port P] [--no-browser]``) checks the model, then Voila serves
``app/digit_pad.ipynb``, which finds the model in ``$DIGIT_PAD_MODEL``.
"""

from __future__ import annotations

import argparse
import html
import os
import subprocess
import sys
from pathlib import Path

from mnist_helpers.checks import error_line
from mnist_helpers.console import quiet_tensorflow
from mnist_helpers.model_file import load_model_safely
from mnist_helpers.paths import project_root, runs_dir
from mnist_helpers.predict import load_predictor

#: The app's folder in the course: the notebook Voila serves, and the page's template.
APP_FOLDER = Path("app")
APP_NOTEBOOK = APP_FOLDER / "digit_pad.ipynb"
#: The variable that carries the model's path from this command to the page's kernel.
MODEL_VARIABLE = "DIGIT_PAD_MODEL"
DEFAULT_PORT = 8866
#: The page's template (app/voila/templates/): Voila's "lab" page without its CDN stylesheets.
TEMPLATE = "digit-pad"


def default_model_path() -> Path:
    """The model the pad uses: ``$DIGIT_PAD_MODEL``, else the default run's ``model.keras``."""
    chosen = os.environ.get(MODEL_VARIABLE)
    return Path(chosen) if chosen else runs_dir() / "default" / "model.keras"


def missing_model_message(model_path: Path) -> str:
    """What to do when ``model_path`` does not exist: how to train one, or name another."""
    return (
        f"No trained model at {model_path}. Train the default one first: `make run` (its "
        "notebook 04 trains it, about 3 minutes on a laptop CPU) or run notebook 04 in "
        "JupyterLab; or name another: `make app MODEL=path/to/model.keras`."
    )


def cannot_load_message(model_path: Path, why: str) -> str:
    """What to do when the model at ``model_path`` exists but cannot be loaded, and ``why``."""
    why = why.strip().rstrip(".")
    if str(model_path) not in why:  # the course's own errors name the file; others may not
        why = f"{model_path}: {why}"
    return (
        f"Cannot use the model: {why}. Name another: `make app MODEL=path/to/model.keras`, "
        "or train the default one: `make run`."
    )


def digit_pad_app(model_path: str | Path | None = None):
    """The app's page: a line naming the model, then 06's digit pad; or, when the model is
    missing or cannot be loaded, a message saying so (nothing raises on the page)."""
    import ipywidgets as widgets

    from mnist_helpers.canvas import draw_and_predict  # the widgets, in the page's kernel only

    model_path = Path(model_path) if model_path else default_model_path()
    if not model_path.is_file():
        return _message_box(missing_model_message(model_path))
    try:
        with quiet_tensorflow():  # TensorFlow's start-up lines are not for the class
            predictor = load_predictor(model_path)
    except Exception as err:  # whatever it is, the page says it in words
        return _message_box(cannot_load_message(model_path, error_line(err)))
    path, root = model_path.resolve(), project_root().resolve()
    shown = path.relative_to(root) if path.is_relative_to(root) else path  # short, on a projector
    title = widgets.HTML(
        f"<small>model: <code>{html.escape(str(shown))}</code>, "
        f"run by {html.escape(str(predictor.runtime))}</small>"
    )
    return widgets.VBox([title, draw_and_predict(predictor)])


def _message_box(message: str):
    """A page that shows ``message`` (escaped) in red, instead of the pad."""
    import ipywidgets as widgets

    shown = f"<p style='color:#b00020'><b>{html.escape(message)}</b></p>"
    return widgets.VBox([widgets.HTML(shown)])


def voila_arguments(port: int = DEFAULT_PORT, open_browser: bool = True) -> list[str]:
    """Voila's command-line arguments: the app notebook on 127.0.0.1:``port``."""
    arguments = [
        str(project_root() / APP_NOTEBOOK),
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--theme=light",
        f"--template={TEMPLATE}",
    ]
    return arguments if open_browser else [*arguments, "--no-browser"]


def main(argv: list[str] | None = None) -> int:
    """The command line: check the model, then run Voila until Ctrl+C. Exit status 0: Voila
    ran and was stopped; 2: a model missing or unusable, a bad port, or no Voila."""
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
    exists = model_path.exists()
    problem = _load_problem(model_path) if exists else missing_model_message(model_path)
    if problem:
        print(f"app: {problem}", file=sys.stderr)
        return 2
    try:
        from voila.app import Voila
    except ImportError:
        print(
            "app: Voila is not installed: run `make setup` (or pip install voila)", file=sys.stderr
        )
        return 2
    print(
        f"Serving the digit pad with {model_path} on http://127.0.0.1:{args.port}/ (Ctrl+C stops)"
    )
    # Voila runs in this process, so that Ctrl+C or a signal stops it and its kernels too;
    # the kernels inherit the variable. Voila finds app/'s template on Jupyter's data path.
    os.environ[MODEL_VARIABLE] = str(model_path)
    data_path = [str(project_root() / APP_FOLDER), os.environ.get("JUPYTER_PATH", "")]
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, data_path))
    Voila.launch_instance(argv=voila_arguments(args.port, not args.no_browser))
    return 0


def _load_problem(model_path: Path) -> str:
    """Why ``model_path`` cannot be loaded, or "": checked in a child process, so that Voila's
    server, in this one, does not keep TensorFlow in memory."""
    code = "import sys; from mnist_helpers.app import _check_model; _check_model(sys.argv[1])"
    done = subprocess.run([sys.executable, "-c", code, model_path], capture_output=True, text=True)
    if done.returncode == 0:
        return ""
    why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return cannot_load_message(model_path, why)


def _check_model(model_path: str) -> None:
    """Load ``model_path`` safely; if it cannot be, exit saying why in one line (stderr)."""
    try:
        with quiet_tensorflow():
            load_model_safely(model_path)
    except Exception as err:
        sys.exit(error_line(err))


if __name__ == "__main__":
    sys.exit(main())
