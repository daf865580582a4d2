"""The course as a person sees it, in a real browser: JupyterLab, the Voila app, the website.

Headless Chromium driven by Python's playwright checks what no other test can: that a
learner's *Run All* on the student edition (``make student``) in JupyterLab runs every cell,
without an error or a stderr box and with its figures drawn, down to the first exercise,
within the computer time the guide's lesson plan leaves its session (``MNIST_STUDENT_RUN``
below says which notebooks, with which parameters); that 06's pad, live after that Run All,
reads a 7 drawn with the mouse as a 7 (and in ``make app``'s Voila page too) even with every
core kept busy meanwhile, and *Clear* empties the pad; and that every page of the built
website (``make site``) opens without a console error, with its images loaded and the
landing page linking to every notebook. 05, 06 and the app use the course run's model
(``runs/smoke``, root conftest.py).

To check a lab machine as a class will use it, after ``make run``::

    MNIST_STUDENT_RUN=class .venv/bin/python -m pytest tests/test_browser.py -k student

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

from conftest import with_parameters
from mnist_helpers.app import MODEL_VARIABLE
from mnist_helpers.canvas import drawing_to_input
from mnist_helpers.paths import project_root

pytestmark = [pytest.mark.browser, pytest.mark.real_data]

ROOT = project_root()
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


def _serve_lab(home: Path, runs: Path, port: int):
    """Start JupyterLab on 127.0.0.1:``port`` with a token, serving ``home``, its kernels
    writing runs to ``runs``; return ``(process, url, token)`` once it answers.

    The notebooks' windowing is off (else cells far below the screen are never drawn) and so
    is the news pop-up; the app is exposed as ``window.jupyterapp`` (to run chosen cells).
    """
    settings = home / "settings" / "@jupyterlab"
    for plugin, values in {
        "notebook-extension/tracker": {"windowingMode": "none"},
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    token, log = secrets.token_hex(16), home / "lab.log"
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "MNIST_OFFLINE": "1",
        "MNIST_RUNS_DIR": str(runs),
    }
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root"]
    command += ["--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}"]
    command += [f"--ServerApp.root_dir={home}", "--LabApp.expose_app_in_browser=True"]
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait_for_http(f"{url}/api/status?token={token}", process, log, timeout=120)
    return process, url, token


def _committed_figures(notebook: str, before_exercises: bool = False) -> int:
    """How many PNG figures the committed ``notebook`` shows (above its Exercises section
    only, with ``before_exercises``)."""
    cells = nbformat.read(ROOT / "notebooks" / notebook, as_version=4).cells
    if before_exercises:
        cells = cells[: next(i for i, c in enumerate(cells) if c.source.startswith("## Exercises"))]
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


#: How the student editions run in JupyterLab (``MNIST_STUDENT_RUN``). ``smoke``, the default
#: and what CI runs, injects the course run's quick parameters (as ``make run PROFILE=smoke
#: RUN_NAME=smoke`` would) and runs the notebooks that take under half a minute so: the
#: others' code runs headlessly in the course run, and their Run All in JupyterLab is the
#: ``class`` check. ``class`` runs all eight with each notebook's own class-sized defaults, as
#: a learner's Run All does (about nine minutes in all): run it on a lab machine after
#: ``make run``.
STUDENT_RUN = os.environ.get("MNIST_STUDENT_RUN", "smoke")
#: The quick parameters of the course run (root conftest.py), for the notebooks that declare them.
QUICK_RUN = {"profile": "smoke", "run_name": "smoke"}
STUDENT_NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
QUICK_STUDENT_NOTEBOOKS = [
    name for name in STUDENT_NOTEBOOKS if name[:2] in ("01", "02", "05", "06")
]


def _reads_the_course_run_when_quick(test):
    """At the quick profile the check reads the course run's model: mark it so, and it waits
    for the run like the other tests that read it (root conftest.py). The class check needs
    no course run."""
    return pytest.mark.usefixtures("course_run")(test) if STUDENT_RUN == "smoke" else test


@pytest.fixture(scope="session")
def student_lab(request, tmp_path_factory, free_port):
    """JupyterLab (``_serve_lab``) serving the student edition, as ``make student`` builds it,
    with a runs folder of its own that starts with the model 05 and 06 read: the course
    run's ``smoke`` run, or with ``MNIST_STUDENT_RUN=class`` your own ``runs/default`` (from
    ``make run``) when there is one."""
    from mnist_helpers.editions import build_edition

    if STUDENT_RUN not in ("smoke", "class"):
        pytest.fail(f"MNIST_STUDENT_RUN must be 'smoke' or 'class', got {STUDENT_RUN!r}")
    home, runs = tmp_path_factory.mktemp("student-lab"), tmp_path_factory.mktemp("student-runs")
    written = build_edition("student", home / "notebooks")
    if STUDENT_RUN == "smoke":
        course_run = request.getfixturevalue("course_run")
        course_run.check()
        shutil.copytree(course_run.runs / "smoke", runs / "smoke")
        for path in written:
            nbformat.write(with_parameters(path, QUICK_RUN), path)
    elif (ROOT / "runs" / "default" / "model.keras").is_file():
        shutil.copytree(ROOT / "runs" / "default", runs / "default")
    process, url, token = _serve_lab(home, runs, free_port())
    yield url, token, home / "notebooks"
    _stop(process)


def _run_all(page, timeout_s: float) -> tuple[str, float]:
    """*Run All Cells* in the open notebook, as a learner does; return what the command
    answered (``"true"``, ``"false"`` when a cell raised and stopped the run, or the error)
    and the seconds it took, from a started, idle kernel."""
    page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.ready")
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel?.status"
        " === 'idle'",
        timeout=120_000,
    )
    start = time.monotonic()
    page.evaluate(
        """() => {
            window.ranAll = null;
            window.jupyterapp.commands.execute('notebook:run-all-cells')
                .then(ok => { window.ranAll = String(ok); },
                      err => { window.ranAll = `error: ${err}`; });
        }"""
    )
    page.wait_for_function("() => window.ranAll !== null", timeout=timeout_s * 1000, polling=1000)
    return page.evaluate("() => window.ranAll"), time.monotonic() - start


@_reads_the_course_run_when_quick
@pytest.mark.parametrize(
    "notebook", STUDENT_NOTEBOOKS if STUDENT_RUN == "class" else QUICK_STUDENT_NOTEBOOKS
)
def test_the_student_notebook_runs_top_to_bottom_in_jupyterlab_within_its_session(
    page, student_lab, screenshots, notebook
):
    """Run All on the student edition in JupyterLab, as a learner does. Every cell runs, with
    no error and no stderr box, down to the first exercise stub, whose NotImplementedError
    stops the run (what a learner meets first: the exercise to write); every figure is drawn;
    and it takes no longer than the computer time the guide's lesson plan leaves the
    notebook's session. In 06, the digit pad, live after Run All, reads a 7 drawn with the
    mouse, every core kept busy meanwhile, and *Clear* empties it."""
    from tools.update_guide import compute_allowances

    allowance = 60 * compute_allowances()[notebook[:2]]
    cells = nbformat.read(student_lab[2] / notebook, as_version=4).cells
    stub = next(
        i for i, c in enumerate(cells) if c.cell_type == "code" and "# YOUR CODE HERE" in c.source
    )
    code_before = sum(c.cell_type == "code" for c in cells[:stub])
    _open_in_lab(page, student_lab, notebook)
    answer, seconds = _run_all(page, timeout_s=max(600, 3 * allowance))
    print(f"{notebook} ({STUDENT_RUN}): Run All reached the first exercise in {seconds:.0f} s")
    prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt").all_text_contents()
    ran = [bool(re.fullmatch(r"\[\d+\]:", p.strip())) for p in prompts]
    assert answer == "false", f"Run All answered {answer!r}: no exercise stub stopped it"
    assert len(ran) == sum(c.cell_type == "code" for c in cells), (len(ran), notebook)
    assert all(ran[:code_before]), f"code cell {ran.index(False)} did not run"
    assert ran[code_before] and not any(ran[code_before + 1 :]), "Run All went past the stub"
    # JupyterLab shows a traceback as a stderr output: the stub's must be the only one
    stderr = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    stub_output = page.locator(".jp-CodeCell").nth(code_before).locator(".jp-OutputArea")
    assert "NotImplementedError" in stub_output.inner_text()
    assert stderr.count() == 1, stderr.all_inner_texts()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-RenderedImage img')].every(i => i.complete)",
        timeout=30_000,
    )
    widths = _image_widths(page, ".jp-RenderedImage img")
    assert len(widths) >= _committed_figures(notebook, before_exercises=True), len(widths)
    assert all(width > 0 for width in widths), widths
    _screenshot_figures(page, screenshots)
    stub_output.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "first_exercise.png")
    assert seconds <= allowance, (
        f"{notebook}: Run All took {seconds:.0f} s, more than the {allowance // 60} min of "
        "computer time its session leaves (docs/teaching.md's lesson plan)"
    )
    if notebook.startswith("06"):
        pad = page.locator(".jp-OutputArea-output .widget-vbox", has=page.locator("canvas")).last
        pad.wait_for(timeout=60_000)
        text = _draw_seven_then_clear(page, pad, screenshots)
        print(f"{notebook}: the pad showed {text!r}")


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
