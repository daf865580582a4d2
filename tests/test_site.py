"""Tests of tools/build_site.py's checks, on tiny sites made here: no network, no build.

The real build (jupyter-book, then these checks) runs in tests/test_browser.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import sys
import tarfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_build_site():
    spec = importlib.util.spec_from_file_location("build_site", ROOT / "tools" / "build_site.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_site"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


build_site = _load_build_site()

PAGE = """<!DOCTYPE html>
<html><head>
<link rel="stylesheet" href="{up}_static/site.css?v=1">
<script src="{up}_static/site.js"></script>
</head><body>
<section id="top">{body}</section>
</body></html>
"""


def _page(root: Path, name: str, body: str = "") -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    up = "../" * (len(Path(name).parts) - 1)
    path.write_text(PAGE.format(up=up, body=body), encoding="utf-8")
    return path


def _clean_site(root: Path) -> Path:
    """A landing page, one notebook page, an image, a stylesheet and a script: all fine."""
    (root / "_static").mkdir(parents=True)
    (root / "_static" / "site.css").write_text("body { background: url('bg.png'); }\n")
    (root / "_static" / "site.js").write_text("// local\n")
    (root / "_images").mkdir()
    (root / "_images" / "digits.png").write_bytes(b"\x89PNG fake")
    (root / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=README.html" />')
    _page(
        root,
        "README.html",
        '<h2 id="results">Results</h2><a href="#results">here</a>'
        '<a href="notebooks/01_intro.html#first-model">01</a>'
        '<img src="_images/digits.png" alt="digits">'
        '<a href="https://example.org/paper">a paper</a><a href="mailto:a@b.c">mail</a>',
    )
    _page(root, "notebooks/01_intro.html", '<p id="first-model"><a href="../README.html">up</a>')
    return root


def _problems(root: Path, notebooks: tuple[str, ...] = ("01_intro",)) -> list[str]:
    return build_site.check_site(root, notebooks).problems


def test_a_clean_site_passes_and_is_counted(tmp_path):
    report = build_site.check_site(_clean_site(tmp_path), ["01_intro"])
    assert report.problems == []
    assert report.ok
    assert report.pages == 3  # index.html, README.html, notebooks/01_intro.html
    assert report.images == 1
    assert report.anchors == 2
    assert report.external_links == {"https://example.org/paper"}
    text = build_site.summary(report, seconds=12.34, mathjax="MathJax here")
    assert "built in 12.3 s" in text and "3 HTML pages" in text and "1 images checked" in text
    assert "1 external hyperlinks seen (not followed)" in text


def test_a_broken_link_is_reported_with_its_page(tmp_path):
    root = _clean_site(tmp_path)
    _page(root, "notebooks/02_next.html", '<a href="../docs/missing.html">guide</a>')
    problems = _problems(root)
    assert problems == [
        "notebooks/02_next.html: ../docs/missing.html -> missing file docs/missing.html"
    ]


def test_a_missing_anchor_is_reported_on_another_page_and_the_same_page(tmp_path):
    root = _clean_site(tmp_path)
    _page(
        root,
        "docs/teaching.html",
        '<a href="../notebooks/01_intro.html#no-such-heading">x</a><a href="#nowhere">y</a>',
    )
    problems = _problems(root)
    assert len(problems) == 2
    assert problems[0].startswith("docs/teaching.html: ../notebooks/01_intro.html#no-such-head")
    assert "no id 'no-such-heading'" in problems[0]
    assert problems[1] == "docs/teaching.html: #nowhere -> no id 'nowhere' in that page"


def test_a_missing_or_empty_image_is_reported(tmp_path):
    root = _clean_site(tmp_path)
    (root / "_images" / "empty.png").write_bytes(b"")
    _page(
        root, "docs/figures.html", '<img src="../_images/gone.png"><img src="../_images/empty.png">'
    )
    problems = _problems(root)
    assert problems == [
        "docs/figures.html: ../_images/gone.png -> missing file _images/gone.png",
        "docs/figures.html: image ../_images/empty.png is an empty file",
    ]


@pytest.mark.parametrize(
    "html",
    [
        '<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>',
        '<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Lato">',
        '<img src="http://example.org/logo.png">',
        '<div style="background: url(https://example.org/bg.png)"></div>',
        "<style>@import 'https://fonts.example.org/font.css';</style>",
    ],
)
def test_an_asset_from_a_cdn_is_reported(tmp_path, html):
    root = _clean_site(tmp_path)
    _page(root, "notebooks/06_pad.html", html)
    problems = _problems(root)
    assert len(problems) == 1
    assert problems[0].startswith("notebooks/06_pad.html: ")
    assert "loads from another site" in problems[0]


def test_a_stylesheet_that_loads_a_cdn_font_is_reported(tmp_path):
    root = _clean_site(tmp_path)
    (root / "_static" / "site.css").write_text(
        "@font-face { src: url('https://cdn.example.org/font.woff2'); }"
    )
    problems = _problems(root)
    assert problems == [  # each page that links the stylesheet
        f"{page}: stylesheet {up}_static/site.css?v=1 loads from another site: "
        "https://cdn.example.org/font.woff2"
        for page, up in (("README.html", ""), ("notebooks/01_intro.html", "../"))
    ]


def test_the_landing_page_must_link_to_every_notebook(tmp_path):
    root = _clean_site(tmp_path)
    _page(root, "notebooks/02_next.html")
    problems = _problems(root, notebooks=("01_intro", "02_next"))
    assert problems == ["README.html: no link to the notebook page notebooks/02_next.html"]


def test_no_build_is_a_problem_not_a_crash(tmp_path):
    problems = _problems(tmp_path / "missing")
    assert len(problems) == 1 and "no built site here" in problems[0]


def test_resolve_drops_queries_and_decodes(tmp_path):
    page = tmp_path / "notebooks" / "a.html"
    target, fragment = build_site.resolve(page, "../_static/x%20y.js?v=3#part-2", tmp_path)
    assert target == tmp_path / "_static" / "x y.js"
    assert fragment == "part-2"
    assert build_site.resolve(page, "#top", tmp_path) == (page, "top")


# --------------------------------------------------------------------------- MathJax


def _tarball(extra: dict[str, bytes] | None = None) -> bytes:
    files = {
        "package/es5/tex-mml-chtml.js": b"/* mathjax */",
        "package/es5/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff": b"woff",
        "package/es5/tex-svg.js": b"not needed",
        "package/es5/input/tex/extensions/ams.js": b"not needed",
        **(extra or {}),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_mathjax_is_extracted_verified_and_cached(tmp_path):
    blob = _tarball({"package/es5/../../../evil.js": b"no"})
    source = tmp_path / "mathjax.tgz"
    source.write_bytes(blob)
    cache = tmp_path / "cache" / "mathjax.tgz"
    static = tmp_path / "html" / "_static"
    sha = hashlib.sha256(blob).hexdigest()
    ok, message = build_site.vendor_mathjax(static, source.as_uri(), sha, cache)
    assert ok, message
    assert "2 files" in message and "downloaded" in message
    written = sorted(p.relative_to(static).as_posix() for p in static.rglob("*") if p.is_file())
    assert written == [
        "mathjax/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff",
        "mathjax/tex-mml-chtml.js",
    ]
    assert cache.read_bytes() == blob
    source.unlink()  # the second build needs no download
    ok, message = build_site.vendor_mathjax(static, source.as_uri(), sha, cache)
    assert ok and "cached" in message


def test_mathjax_offline_falls_back_quickly_to_tex_source(tmp_path):
    static = tmp_path / "_static"
    cache = tmp_path / "cache" / "mathjax.tgz"
    start = time.monotonic()
    ok, message = build_site.vendor_mathjax(
        static, "http://127.0.0.1:9/mathjax.tgz", "0" * 64, cache, timeout=2
    )
    assert time.monotonic() - start < 5
    assert not ok
    assert "math will show as TeX source" in message and "\n" not in message
    placeholder = static / "mathjax" / "tex-mml-chtml.js"
    assert "TeX source" in placeholder.read_text()  # pages load it: no broken link, no CDN
    assert not cache.exists()


def test_a_checksum_mismatch_is_refused(tmp_path):
    source = tmp_path / "mathjax.tgz"
    source.write_bytes(_tarball())
    cache = tmp_path / "cache" / "mathjax.tgz"
    ok, message = build_site.vendor_mathjax(tmp_path / "_static", source.as_uri(), "f" * 64, cache)
    assert not ok and "refused" in message and "TeX source" in message
    assert (tmp_path / "_static" / "mathjax" / "output").exists() is False
    assert not cache.exists()


def test_the_build_command_is_strict_and_never_executes_notebooks():
    command = build_site.build_command()
    assert Path(command[0]).name.startswith("jupyter-book")
    assert command[1:3] == ["build", "."]
    for flag in ("-W", "-n", "--keep-going", "--all"):
        assert flag in command
    config = (ROOT / "site" / "_config.yml").read_text()
    assert 'execute_notebooks: "off"' in config


def test_the_api_page_documents_every_public_module_and_the_toc_every_notebook():
    api = (ROOT / "site" / "api.md").read_text()
    modules = sorted(p.stem for p in (ROOT / "mnist_helpers").glob("[!_]*.py"))
    missing = [m for m in modules if f".. automodule:: mnist_helpers.{m}\n" not in api]
    assert not missing, f"site/api.md has no section for {missing}: add one"
    toc = (ROOT / "site" / "_toc.yml").read_text()
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
    assert [n for n in notebooks if f"file: notebooks/{n}\n" not in toc] == []
