"""The course as a person sees it, in a real browser: JupyterLab, the Voila app, the website.

Headless Chromium driven by Python's playwright checks what no other test can: that 01 and
06, as the session's course run (root conftest.py) executed them, show in JupyterLab without
an error or a stderr box and with their figures drawn; that 06's pad, run in JupyterLab's
kernel with the cells above it, reads a 7 drawn with the mouse as a 7 (and in ``make app``'s
Voila page too) even with every core kept busy meanwhile, and *Clear* empties the pad; and
that every page of the built website (``make site``) opens without a console error, with its
images loaded and the landing page linking to every notebook. 06 and the app use the course
run's model (``runs/smoke``).

Needs Debian's Chromium (``sudo apt-get install -y chromium``; playwright's own browser
download cannot work offline) and the web requirements (``make site`` installs them, from
requirements-web.lock). Without them these tests skip, saying so; under CI (``CI`` set, as
``.ci/run`` does after installing Chromium) they fail instead.

Each test saves screenshots to ``screenshots/<test name>/`` (not committed) for a person
to look at.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import browsing
import nbformat
import numpy as np
import pytest
from browsing import HOW_TO_GET_IT, chromium_path, draw_stroke, every_core_busy, unavailable

from mnist_helpers.app import MODEL_VARIABLE
from mnist_helpers.canvas import drawing_to_input
from mnist_helpers.paths import project_root

pytestmark = [pytest.mark.browser, pytest.mark.real_data]

ROOT = project_root()
LAB_NOTEBOOKS = ("01_data_exploration.ipynb", "06_your_own_digits.ipynb")
#: A 7 as a person draws it: across the top, then down to the middle of the bottom
#: (fractions of the canvas's side).
SEVEN = ((0.30, 0.25), (0.72, 0.25), (0.50, 0.80))
EMPTY_PAD = "draw a digit on the black square"


def test_without_chromium_the_tests_skip_locally_saying_how_and_fail_under_ci(
    monkeypatch, tmp_path
):
    monkeypatch.setattr(browsing, "CHROMIUM_PATHS", ())
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CHROMIUM_PATH", raising=False)
    assert chromium_path() is None
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        unavailable(f"no Chromium found: {HOW_TO_GET_IT}")
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="fails instead of skipping"):
        unavailable(f"no Chromium found: {HOW_TO_GET_IT}")


def _wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Wait until ``url`` answers 200; fail with the server's log if it exits or is too slow."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"no answer from {url} after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def lab(tmp_path_factory, course_run, free_port):
    """JupyterLab on 127.0.0.1 with a token, serving the course run's executed 01 and 06.

    Copies, so that JupyterLab's autosave never writes into the course run. The notebooks'
    windowing is off (else cells far below the screen are never drawn) and so is the news
    pop-up; the app is exposed as ``window.jupyterapp`` (to run chosen cells). Kernels use
    the course run's runs folder.
    """
    course_run.check()
    home = tmp_path_factory.mktemp("lab")
    (home / "notebooks").mkdir()
    for name in LAB_NOTEBOOKS:
        shutil.copy(course_run.executed / name, home / "notebooks" / name)
    settings = home / "settings" / "@jupyterlab"
    for plugin, values in {
        "notebook-extension/tracker": {"windowingMode": "none"},
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token, log = free_port(), secrets.token_hex(16), home / "lab.log"
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "MNIST_OFFLINE": "1",
        "MNIST_RUNS_DIR": str(course_run.runs),
    }
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root"]
    command += ["--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}"]
    command += [f"--ServerApp.root_dir={home}", "--LabApp.expose_app_in_browser=True"]
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait_for_http(f"{url}/api/status?token={token}", process, log, timeout=120)
    yield url, token, home / "notebooks"
    _stop(process)


def _committed_figures(notebook: str) -> int:
    """How many PNG figures the committed ``notebook`` shows."""
    cells = nbformat.read(ROOT / "notebooks" / notebook, as_version=4).cells
    return sum(
        "image/png" in out.get("data", {}) for cell in cells for out in cell.get("outputs", [])
    )


def _committed_formulas(notebook: str) -> int:
    """How many TeX formulas (``$...$`` or ``$$...$$``) the committed ``notebook``'s text has."""
    cells = nbformat.read(ROOT / "notebooks" / notebook, as_version=4).cells
    text = "\n".join(cell.source for cell in cells if cell.cell_type == "markdown")
    return len(re.findall(r"\$\$.+?\$\$|\$[^$\n]+\$", text, flags=re.S))


def _image_widths(page, selector: str) -> list[int]:
    """The natural width of each image ``selector`` finds (0: not loaded)."""
    return page.eval_on_selector_all(
        selector, "images => images.map(i => i.complete ? i.naturalWidth : 0)"
    )


def _open_in_lab(page, lab, notebook: str) -> None:
    """Open ``notebook`` in JupyterLab and wait until its kernel is idle."""
    url, token, _ = lab
    # a workspace of its own, so that no notebook opened earlier is restored beside it
    workspace = Path(notebook).stem
    page.goto(f"{url}/lab/workspaces/{workspace}/tree/notebooks/{notebook}?token={token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000)


def _check_shown_cleanly(page, lab, notebook: str) -> None:
    """Every code cell shows its execution number, no error output, no stderr box, and
    every figure is drawn."""
    cells = nbformat.read(lab[2] / notebook, as_version=4).cells
    expected_cells = sum(cell.cell_type == "code" for cell in cells)
    code_cells = page.locator(".jp-CodeCell").count()
    numbered = [
        prompt
        for prompt in page.locator(".jp-CodeCell .jp-InputArea-prompt").all_text_contents()
        if re.fullmatch(r"\[\d+\]:", prompt.strip())
    ]
    assert code_cells == expected_cells == len(numbered), (code_cells, expected_cells)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, errors.all_inner_texts()
    stderr = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert stderr.count() == 0, stderr.all_inner_texts()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-RenderedImage img')].every(i => i.complete)",
        timeout=30_000,
    )
    widths = _image_widths(page, ".jp-RenderedImage img")
    assert len(widths) >= _committed_figures(notebook) > 0, (len(widths), notebook)
    assert all(width > 0 for width in widths), widths


def _run_up_to(page, index: int) -> float:
    """Run, in the open notebook's kernel, the cells above cell ``index`` and then that cell
    (JupyterLab's *Run All Above Selected Cell*, then *Run Selected Cell*); fail if one
    raises. Return the seconds it took."""
    start = time.monotonic()
    page.evaluate(
        """index => {
            window.ranUpTo = null;
            const app = window.jupyterapp;
            app.shell.currentWidget.content.activeCellIndex = index;
            app.commands.execute('notebook:run-all-above')
                .then(above => app.commands.execute('notebook:run-cell').then(it => above && it))
                .then(ok => { window.ranUpTo = String(ok); },
                      err => { window.ranUpTo = `error: ${err}`; });
        }""",
        index,
    )
    page.wait_for_function("() => window.ranUpTo !== null", timeout=480_000, polling=500)
    ran = page.evaluate("() => window.ranUpTo")
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
    assert ran == "true" and errors.count() == 0, (ran, errors.all_inner_texts())
    return time.monotonic() - start


def _screenshot_figures(page, screenshots: Path) -> None:
    """Save each figure the run drew, as the browser shows it, for a person to look at."""
    for number, figure in enumerate(page.locator(".jp-RenderedImage img").all(), start=1):
        figure.scroll_into_view_if_needed()
        figure.screenshot(path=screenshots / f"figure_{number:02d}.png")


def _pixel(canvas, x: float, y: float) -> list[int]:
    """The RGBA pixel of ``canvas`` at fractions ``(x, y)`` of its size."""
    return canvas.evaluate(
        "(c, [x, y]) => Array.from(c.getContext('2d').getImageData("
        "Math.floor(c.width * x), Math.floor(c.height * y), 1, 1).data)",
        [x, y],
    )


#: A canvas's RGBA pixels, row by row, as one flat list.
_ALL_PIXELS = "c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)"


def _what_the_model_saw(page, pad) -> np.ndarray:
    """The pad's "what the model sees" picture, once it shows ink: 28x28 values, 0-255."""
    preview = pad.locator("img").last
    found = page.wait_for_function(
        """img => {
            if (!img.complete || img.naturalWidth === 0) return null;
            const c = document.createElement('canvas');
            c.width = img.naturalWidth;
            c.height = img.naturalHeight;
            c.getContext('2d').drawImage(img, 0, 0);
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            const grey = Array.from(d.filter((_, i) => i % 4 === 0));
            return grey.some(v => v > 0) ? [c.width, grey] : null;
        }""",
        arg=preview.element_handle(),
        timeout=30_000,
    ).json_value()
    width, grey = found
    scale = width // 28  # the picture is the 28x28 input, enlarged
    return np.array(grey, dtype=np.uint8).reshape(width, width)[::scale, ::scale]


def _wait_until_black(page, canvas) -> None:
    """Wait until the canvas is painted black where the 7's bar goes (an empty pad)."""
    page.wait_for_function(
        "c => { const d = c.getContext('2d').getImageData("
        "Math.floor(c.width / 2), Math.floor(c.height / 4), 1, 1).data;"
        " return d[3] === 255 && d[0] === 0; }",
        arg=canvas.element_handle(),
        timeout=30_000,
    )


def _draw_seven_then_clear(page, pad, screenshots: Path) -> str:
    """Clear ``pad``, draw a 7 on its canvas with every core busy, check the best guess,
    *Clear*; return the pad's text."""
    with every_core_busy():
        return _draw_seven_and_read_it_then_clear(page, pad, screenshots)


def _draw_seven_and_read_it_then_clear(page, pad, screenshots: Path) -> str:
    from playwright.sync_api import expect

    canvas = pad.locator("canvas").first
    canvas.scroll_into_view_if_needed()
    clear = pad.get_by_role("button", name="Clear")
    clear.click()  # start from an empty pad: 06 itself shows a digit drawn in code on it
    expect(pad).to_contain_text(EMPTY_PAD, timeout=30_000)
    _wait_until_black(page, canvas)
    box = canvas.bounding_box()
    draw_stroke(page, box, SEVEN)
    expect(pad).to_contain_text("%", timeout=60_000)  # the guesses have arrived: read at once
    text = pad.inner_text()
    best = pad.locator("table tr").first.locator("b").inner_text()
    seen = _what_the_model_saw(page, pad)
    page.screenshot(path=screenshots / "after_drawing_a_7.png")
    assert best == "7", f"the pad read the drawn 7 as {best}: {text!r}"
    assert min(_pixel(canvas, 0.5, 0.25)[:3]) > 200, "the stroke is not white on the canvas"
    drawn = np.array(canvas.evaluate(_ALL_PIXELS), dtype=np.uint8)
    side = round(np.sqrt(drawn.size // 4))
    whole = (drawing_to_input(drawn.reshape(side, side, 4))[..., 0] * 255).astype(np.uint8)
    different = np.abs(seen.astype(int) - whole).max()
    assert different <= 1, f"the model saw another drawing than the whole 7 ({different})"
    clear.click()
    expect(pad).to_contain_text(EMPTY_PAD, timeout=30_000)
    _wait_until_black(page, canvas)
    page.screenshot(path=screenshots / "after_clear.png")
    return text


@pytest.mark.parametrize("notebook", LAB_NOTEBOOKS)
def test_the_course_runs_notebook_shows_cleanly_in_jupyterlab(page, lab, screenshots, notebook):
    _open_in_lab(page, lab, notebook)
    page.screenshot(path=screenshots / "top.png")
    _check_shown_cleanly(page, lab, notebook)
    _screenshot_figures(page, screenshots)


def test_06s_pad_run_in_jupyterlab_reads_a_drawn_7(page, lab, screenshots):
    notebook = LAB_NOTEBOOKS[1]
    cells = nbformat.read(lab[2] / notebook, as_version=4).cells
    pad_cell = next(i for i, cell in enumerate(cells) if "draw_and_predict(" in cell.source)
    _open_in_lab(page, lab, notebook)
    seconds = _run_up_to(page, pad_cell)
    pad = page.locator(".jp-OutputArea-output .widget-vbox", has=page.locator("canvas")).last
    pad.wait_for(timeout=60_000)
    text = _draw_seven_then_clear(page, pad, screenshots)
    print(f"{notebook}: cells up to the pad ran in {seconds:.0f} s; the pad showed {text!r}")


@pytest.fixture(scope="session")
def voila_app(tmp_path_factory, course_run, free_port):
    """``python -m mnist_helpers.app`` (what ``make app`` runs) on a free port, serving the
    course run's model."""
    course_run.check()
    port, log = free_port(), tmp_path_factory.mktemp("app") / "voila.log"
    command = [sys.executable, "-m", "mnist_helpers.app", "--no-browser", f"--port={port}"]
    command += ["--model", str(course_run.runs / "smoke" / "model.keras")]
    env = {k: v for k, v in os.environ.items() if k != MODEL_VARIABLE}
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    _wait_for_http(url, process, log, timeout=120)
    yield url
    _stop(process)


def test_app_serves_the_pad_and_reads_a_drawn_7(page, voila_app, screenshots):
    elsewhere = []  # an offline classroom reaches no other host: the page must not need one
    page.on(
        "request",
        lambda r: (
            r.url.startswith(("http:", "https:"))
            and not r.url.startswith(voila_app)
            and elsewhere.append(r.url)
        ),
    )
    page.goto(voila_app)
    pad = page.locator(".widget-vbox", has=page.locator("canvas")).last
    pad.wait_for(timeout=120_000)
    assert "Draw a digit" in page.locator("body").inner_text()
    text = _draw_seven_then_clear(page, pad, screenshots)
    assert elsewhere == [], f"the app's page asked other hosts: {elsewhere}"
    assert page.errors == [], page.errors
    print(f"app: the pad showed {text!r}")


def _notebook_pages() -> list[str]:
    return [f"notebooks/{p.stem}.html" for p in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))]


def test_site_pages_open_without_errors_with_their_figures(page, site, screenshots):
    url, html = site
    page.goto(f"{url}/")  # index.html sends the reader on to the README's page
    page.wait_for_url("**/README.html", timeout=30_000)
    page.wait_for_load_state("load")
    landing = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    for notebook in _notebook_pages():
        assert any(link.split("#")[0].endswith(notebook) for link in landing), notebook
    assert page.errors == [], ("landing page", page.errors)
    page.screenshot(path=screenshots / "landing.png")
    for path in [*_notebook_pages(), "docs/teaching.html", "site/api.html"]:
        page.errors.clear()
        page.goto(f"{url}/{path}")
        page.wait_for_load_state("load")
        widths = _image_widths(page, "img")
        assert all(width > 0 for width in widths), (path, widths)
        notebook = Path(path).stem + ".ipynb"
        if path.startswith("notebooks/"):
            assert len(widths) >= _committed_figures(notebook), (path, len(widths))
        assert page.errors == [], (path, page.errors)
        formulas = _committed_formulas(notebook) if path.startswith("notebooks/") else 0
        if formulas:  # 02 and 03 write formulas in TeX
            _check_math_is_typeset(page, html, min(formulas, 10))
        page.screenshot(path=screenshots / f"{Path(path).stem}.png")


def _check_math_is_typeset(page, html: Path, at_least: int) -> None:
    """The page's TeX (``at_least`` formulas) is typeset by the site's own MathJax (unless the
    build had none)."""
    script = html / "_static" / "mathjax" / "tex-mml-chtml.js"
    if script.stat().st_size < 10_000:  # the stand-in of an offline build: math as TeX
        if os.environ.get("CI"):
            pytest.fail("the site was built without MathJax (see tools/build_site.py's output)")
        return
    page.wait_for_selector("mjx-container", timeout=30_000)
    assert page.locator("mjx-container").count() >= at_least
