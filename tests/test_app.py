"""The classroom app (mnist_helpers.app): its command line and page without a browser.

The page itself, served by Voila and drawn on with a mouse, is tested in test_browser.py.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import ipywidgets
import jinja2
import pytest
from jupyter_core.paths import jupyter_path

from mnist_helpers import app

#: A folder name a careless or hostile user may give a model: markup, quotes, an ampersand.
HOSTILE = "<script>alert('x')</script> \"Tom & Jerry's\""


def _page_html(page: ipywidgets.Widget) -> str:
    """All the HTML the page's widgets show, in order."""
    found = []

    def walk(widget) -> None:
        if isinstance(widget, ipywidgets.HTML):
            found.append(widget.value)
        for child in getattr(widget, "children", ()):
            walk(child)

    walk(page)
    return "\n".join(found)


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


def _truncated_model(folder: Path) -> Path:
    """A ``model.keras`` cut short, as an interrupted copy leaves it (not a zip any more)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.keras"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    return path


def test_on_a_corrupt_model_the_command_says_so_and_starts_nothing(tmp_path, capsys, monkeypatch):
    started = []
    monkeypatch.setattr("voila.app.Voila.launch_instance", lambda **kw: started.append(kw))
    bad = _truncated_model(tmp_path)
    assert app.main(["--model", str(bad), "--no-browser"]) == 2
    message = capsys.readouterr().err
    assert message.startswith("app: ") and str(bad) in message
    assert "not a valid Keras model file" in message and "MODEL=" in message
    assert "Traceback" not in message and started == []


def test_a_model_that_loads_is_served(tmp_path, capsys, monkeypatch, tiny_model_file):
    started = []
    monkeypatch.setattr("voila.app.Voila.launch_instance", lambda **kw: started.append(kw))
    for variable in (app.MODEL_VARIABLE, "JUPYTER_PATH"):  # main() sets them: undone after
        monkeypatch.setenv(variable, os.environ.get(variable, ""))
    model = tmp_path / "model.keras"
    shutil.copy(tiny_model_file, model)
    assert app.main(["--model", str(model), "--no-browser", "--port", "9002"]) == 0
    assert "Serving the digit pad" in capsys.readouterr().out
    (call,) = started
    assert "--port=9002" in call["argv"] and os.environ[app.MODEL_VARIABLE] == str(model)


def test_a_model_of_another_format_is_refused_before_voila_starts(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("voila.app.Voila.launch_instance", lambda **kw: pytest.fail("started"))
    legacy = tmp_path / "model.h5"
    legacy.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    assert app.main(["--model", str(legacy), "--no-browser"]) == 2
    assert "only .keras model files" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["0", "70000", "-1"])
def test_a_port_out_of_range_is_refused_with_its_value(port, capsys):
    with pytest.raises(SystemExit) as stopped:
        app.main(["--port", port, "--no-browser"])
    assert stopped.value.code == 2
    assert f"--port must be between 1 and 65535, got {port}" in capsys.readouterr().err


def test_on_a_corrupt_model_the_page_says_what_is_wrong_instead_of_failing(tmp_path):
    bad = _truncated_model(tmp_path / HOSTILE)
    page = app.digit_pad_app(bad)
    (message,) = page.children
    assert "Cannot use the model" in message.value and "not a valid Keras model" in message.value
    assert "make app MODEL=" in message.value
    assert "<script>" not in message.value and "&lt;script&gt;" in message.value


def test_the_page_shows_the_model_path_escaped(tmp_path, monkeypatch):
    class StandIn:  # the page only calls it, and shows its runtime
        runtime = "keras <b>"

    monkeypatch.setattr(app, "load_predictor", lambda path: StandIn())
    model = tmp_path / HOSTILE / "model.keras"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"a model")
    shown = _page_html(app.digit_pad_app(model))
    assert "<script>" not in shown and "<b>" not in shown
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &quot;Tom &amp; Jerry" in shown
    assert "run by keras &lt;b&gt;" in shown


def test_without_a_model_the_page_shows_the_path_escaped(tmp_path):
    (message,) = app.digit_pad_app(tmp_path / HOSTILE / "model.keras").children
    assert "No trained model" in message.value
    assert "<script>" not in message.value and "&lt;script&gt;" in message.value
