"""The classroom app (mnist_helpers.app): its command line and page without a browser.

The page itself, served by Voila and drawn on with a mouse, is tested in test_browser.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import ipywidgets
import jinja2
from jupyter_core.paths import jupyter_path

from mnist_helpers import app


def test_without_a_model_the_command_says_how_to_train_one_and_starts_nothing(tmp_path, capsys):
    missing = tmp_path / "no_model.keras"
    assert app.main(["--model", str(missing), "--no-browser"]) == 2
    message = capsys.readouterr().err
    assert str(missing) in message and "make run" in message and "MODEL=" in message


def test_the_default_model_is_the_default_run_unless_the_variable_names_another(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("MNIST_RUNS_DIR", str(tmp_path))
    monkeypatch.delenv(app.MODEL_VARIABLE, raising=False)
    assert app.default_model_path() == tmp_path / "default" / "model.keras"
    monkeypatch.setenv(app.MODEL_VARIABLE, str(tmp_path / "other.keras"))
    assert app.default_model_path() == tmp_path / "other.keras"


def test_without_a_model_the_page_shows_the_message_instead_of_the_pad(tmp_path):
    page = app.digit_pad_app(tmp_path / "missing.keras")
    assert isinstance(page, ipywidgets.VBox)
    (message,) = page.children
    assert "No trained model" in message.value and "make run" in message.value


def test_voila_serves_the_app_notebook_on_loopback():
    arguments = app.voila_arguments(port=9001, open_browser=False)
    assert arguments[0].endswith("app/digit_pad.ipynb")
    assert "--port=9001" in arguments and "--Voila.ip=127.0.0.1" in arguments
    assert "--no-browser" in arguments and "--no-browser" not in app.voila_arguments()
    assert f"--template={app.TEMPLATE}" in arguments
    assert (app.project_root() / app.APP_NOTEBOOK).is_file()


def test_the_page_template_drops_every_stylesheet_voila_links_from_a_cdn():
    """Checked against the installed Voila: an upgrade that changes those links fails here."""
    folders = [Path(folder) / "lab" for folder in jupyter_path("voila", "templates")]
    voila_page = next(f / "index.html.j2" for f in folders if (f / "index.html.j2").is_file())
    links = re.findall(r'<link [^>]*href="https://[^>]*>', voila_page.read_text())
    assert links, f"{voila_page} links nothing from a CDN any more: the app's template can go"
    ours = app.project_root() / app.APP_FOLDER / "voila" / "templates" / app.TEMPLATE
    assert (ours / "conf.json").is_file()
    stand_in = "{% block notebook_css %}" + "\n".join(links) + "{% endblock %}"
    loader = jinja2.DictLoader(
        {"lab/index.html.j2": stand_in, "ours": (ours / "index.html.j2").read_text()}
    )
    assert "https://" not in jinja2.Environment(loader=loader).get_template("ours").render()
