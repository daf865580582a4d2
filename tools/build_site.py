"""Build the course website (Jupyter Book 1) offline, then check every page of it.

Usage (from the course folder; ``make site`` runs the first)::

    .venv/bin/python tools/build_site.py               # build site/_build/html/, then check it
    .venv/bin/python tools/build_site.py --check-only  # check an existing build again

The build is ``jupyter-book build`` with ``site/_config.yml`` and ``site/_toc.yml``, from a
fresh environment, with every warning an error (``-W -n --keep-going``). The notebooks are not
re-executed: the pages show their committed outputs. MathJax 3 is served from the site itself
(fetched once from the npm registry, verified, cached); offline, the build still succeeds and
math shows as TeX source.

The check then reads every HTML page with :mod:`html.parser` and lists each problem with its
page: an internal link to a missing file or to a missing ``#anchor``, a missing or empty
image, a script, stylesheet, font or image loaded from another site (a CDN), a landing page
that does not link to every notebook. External hyperlinks are counted, not followed.

This file is also the site's small Sphinx extension (``setup`` at the end, named in
``site/_config.yml``): napoleon must not read a constant's ``#:`` comment as a type.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from mnist_helpers.download import fetch_verified
from mnist_helpers.paths import user_cache_dir

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "site"
BUILD = SITE / "_build"
HTML = BUILD / "html"

MATHJAX_VERSION = "3.2.2"
MATHJAX_URL = f"https://registry.npmjs.org/mathjax/-/mathjax-{MATHJAX_VERSION}.tgz"
#: SHA-256 of the tarball above (npm's own integrity field, sha512, agrees with it).
MATHJAX_SHA256 = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"
MATHJAX_TIMEOUT = 10.0
#: A bound on the tarball's size (it is a few MB): a server sending more is refused.
MATHJAX_MAX_BYTES = 64 * 2**20
#: What the site needs from the tarball: the combined TeX/MathML -> HTML component and the
#: CHTML fonts, which it finds at ``output/chtml/fonts/woff-v2/`` beside itself.
MATHJAX_SCRIPT = "tex-mml-chtml.js"
MATHJAX_FONTS = "output/chtml/fonts/woff-v2/"
#: Where the pages look for MathJax: ``mathjax_path`` in site/_config.yml, under ``_static``.
MATHJAX_DIR = "mathjax"
TEX_FALLBACK = "math will show as TeX source"

#: Tags and attributes that make a browser load something (not just offer a link to it).
ASSET_ATTRIBUTES = {
    "script": ("src",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "iframe": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "input": ("src",),
}
#: ``<link rel=...>`` values whose ``href`` is loaded with the page.
ASSET_RELS = {"stylesheet", "icon", "preload", "prefetch", "modulepreload", "manifest"}
#: Folders of a build that hold assets and templates, not pages.
NOT_PAGES = ("_static", "_sources", "_images", "_downloads")
EXTERNAL_URL = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//)")
CSS_URL = re.compile(r"""(?:url\(\s*|@import\s+)["']?((?:https?:)?//[^"')\s]+)""")


# --------------------------------------------------------------------------- MathJax


def cache_folder() -> Path:
    """Return the folder where the website's build caches downloads: ``site`` in the
    course's cache folder (:func:`mnist_helpers.paths.user_cache_dir`, beside MNIST's)."""
    return user_cache_dir() / "site"


def extract_mathjax(tarball: bytes, dest: Path) -> int:
    """Extract MathJax's ``tex-mml-chtml.js`` and its CHTML fonts into ``dest``.

    Only regular files under ``package/es5/`` that the site needs are written, to paths this
    function builds itself (a member's name cannot climb out of ``dest``).

    Returns:
        The number of files written.

    Raises:
        ValueError: the tarball lacks ``tex-mml-chtml.js``.
    """
    prefix = "package/es5/"
    written = 0
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in archive.getmembers():
            name = member.name
            if not member.isfile() or not name.startswith(prefix):
                continue
            relative = name[len(prefix) :]
            wanted = relative == MATHJAX_SCRIPT or (
                relative.startswith(MATHJAX_FONTS)
                and "/" not in relative[len(MATHJAX_FONTS) :]
                and relative.endswith(".woff")
            )
            if not wanted:
                continue
            target = dest.joinpath(*relative.split("/"))
            source = archive.extractfile(member)
            assert source is not None  # a regular file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read())
            written += 1
    if not (dest / MATHJAX_SCRIPT).is_file():
        raise ValueError(f"the MathJax tarball has no es5/{MATHJAX_SCRIPT}")
    return written


def vendor_mathjax(
    static: Path,
    url: str = MATHJAX_URL,
    sha256: str = MATHJAX_SHA256,
    cache: Path | None = None,
    timeout: float = MATHJAX_TIMEOUT,
) -> tuple[bool, str]:
    """Put MathJax into the built site's ``static`` folder, where the pages load it from.

    If it cannot be fetched (offline) or its checksum is wrong, a placeholder script takes its
    place, so that no page loads anything from elsewhere and math shows as TeX source.

    Returns:
        ``(True, message)`` when MathJax is in place, else ``(False, message)``; the message
        is one line for a person.
    """
    cache = cache if cache is not None else cache_folder() / Path(urlsplit(url).path).name
    dest = static / MATHJAX_DIR
    shutil.rmtree(dest, ignore_errors=True)
    was_cached = cache.is_file()
    try:
        tarball = fetch_verified(url, sha256, cache, MATHJAX_MAX_BYTES, timeout)
        count = extract_mathjax(tarball, dest)
    except (OSError, ValueError) as error:  # URLError and timeouts are OSErrors
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True, exist_ok=True)
        (dest / MATHJAX_SCRIPT).write_text(
            f"/* MathJax could not be fetched when this site was built: {TEX_FALLBACK}. */\n",
            encoding="utf-8",
        )
        reason = str(getattr(error, "reason", None) or error) or type(error).__name__
        return False, f"MathJax {MATHJAX_VERSION} not available ({reason}): {TEX_FALLBACK}"
    source = f"cached in {cache}" if was_cached else f"downloaded to {cache}"
    return True, f"MathJax {MATHJAX_VERSION} served from the site ({count} files; {source})"


# --------------------------------------------------------------------------- reading pages


@dataclass
class Reference:
    """One URL that a page names: where, in which tag, and whether a browser loads it."""

    page: Path
    tag: str
    url: str
    asset: bool


@dataclass
class Page:
    """What the checks need from one HTML file: its element ids and the URLs it names."""

    path: Path
    ids: set[str] = field(default_factory=set)
    references: list[Reference] = field(default_factory=list)
    css: list[str] = field(default_factory=list)


class _PageParser(HTMLParser):
    """Collect a page's ids, hyperlinks, loaded assets and inline CSS."""

    def __init__(self, page: Page) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for name in ("id", "name") if tag == "a" else ("id",):
            if values.get(name):
                self.page.ids.add(values[name])
        if values.get("style"):
            self.page.css.append(values["style"])
        self._in_style = tag == "style"
        if tag in ("a", "area") and "href" in values:
            self._add(tag, values["href"], asset=False)
        elif tag == "link" and "href" in values:
            rels = set(values.get("rel", "").lower().split())
            self._add(tag, values["href"], asset=bool(rels & ASSET_RELS))
        elif tag == "meta" and values.get("http-equiv", "").lower() == "refresh":
            target = re.search(r"url\s*=\s*['\"]?([^'\";]+)", values.get("content", ""), re.I)
            if target:
                self._add(tag, target.group(1).strip(), asset=False)
        for name in ASSET_ATTRIBUTES.get(tag, ()):
            if not values.get(name):
                continue
            if name == "srcset":
                for candidate in values[name].split(","):
                    if candidate.strip():
                        self._add(tag, candidate.split()[0], asset=True)
            else:
                self._add(tag, values[name], asset=True)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self._in_style = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.page.css.append(data)

    def _add(self, tag: str, url: str, asset: bool) -> None:
        self.page.references.append(Reference(self.page.path, tag, url.strip(), asset))


def read_page(path: Path) -> Page:
    """Parse the HTML file at ``path``."""
    page = Page(path)
    parser = _PageParser(page)
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    return page


def html_pages(root: Path) -> list[Path]:
    """Return the built pages under ``root``: every ``.html`` outside the asset folders."""
    return sorted(
        path for path in root.rglob("*.html") if path.relative_to(root).parts[0] not in NOT_PAGES
    )


def is_external(url: str) -> bool:
    """Tell whether ``url`` names another site or scheme (``https:``, ``mailto:``, ``//cdn``)."""
    return bool(EXTERNAL_URL.match(url))


def is_cdn(url: str) -> bool:
    """Tell whether loading ``url`` would fetch from another site (``http(s):``, ``//host``)."""
    return url.lower().startswith(("http://", "https://", "//"))


def css_external_urls(css: str) -> list[str]:
    """Return the ``url(...)`` and ``@import`` targets in ``css`` that are on other sites."""
    return CSS_URL.findall(css)


# --------------------------------------------------------------------------- checking


@dataclass
class Report:
    """The outcome of :func:`check_site`: counts for the summary, and the problems found."""

    pages: int = 0
    internal_links: int = 0
    anchors: int = 0
    images: int = 0
    external_links: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def resolve(page: Path, url: str, root: Path) -> tuple[Path, str]:
    """Return the file an internal ``url`` on ``page`` points at, and its ``#fragment``.

    The query (``?v=...``) is dropped, ``%20`` and friends are decoded, a folder stands for
    its ``index.html``, and an empty path means ``page`` itself.
    """
    parts = urlsplit(url)
    path = unquote(parts.path)
    if not path:
        target = page
    elif path.startswith("/"):
        target = root / path.lstrip("/")
    else:
        target = page.parent / path
    if path.endswith("/") or target.is_dir():
        target = target / "index.html"
    return Path(os.path.normpath(target)), unquote(parts.fragment)


def _where(page: Path, root: Path) -> str:
    """``page`` as the problem list shows it: relative to the site's root."""
    try:
        return page.relative_to(root).as_posix()
    except ValueError:
        return str(page)


def check_reference(ref: Reference, root: Path, pages: dict[Path, Page], report: Report) -> None:
    """Check one URL of one page and count it; add any problem to ``report``."""
    where = _where(ref.page, root)
    if is_external(ref.url):
        if ref.asset and is_cdn(ref.url):
            report.problems.append(f"{where}: <{ref.tag}> loads from another site: {ref.url}")
        elif ref.url.lower().startswith(("http://", "https://")):
            report.external_links.add(ref.url)
        return
    target, fragment = resolve(ref.page, ref.url, root)
    if ref.tag == "img":
        report.images += 1
    else:
        report.internal_links += 1
    if root.resolve() not in (target.resolve(), *target.resolve().parents):
        report.problems.append(f"{where}: {ref.url} points outside the site")
        return
    if not target.is_file():
        report.problems.append(f"{where}: {ref.url} -> missing file {_where(target, root)}")
        return
    if ref.tag == "img" and target.stat().st_size == 0:
        report.problems.append(f"{where}: image {ref.url} is an empty file")
    if ref.asset and target.suffix == ".css":
        for url in css_external_urls(target.read_text(encoding="utf-8", errors="replace")):
            report.problems.append(f"{where}: stylesheet {ref.url} loads from another site: {url}")
    if fragment and target.suffix == ".html":
        report.anchors += 1
        if target not in pages:
            pages[target] = read_page(target)
        if fragment not in pages[target].ids:
            report.problems.append(f"{where}: {ref.url} -> no id {fragment!r} in that page")


def landing_page(root: Path) -> Path:
    """Return the page a visitor lands on: ``index.html``, or where its redirect points."""
    index = root / "index.html"
    if index.is_file():
        for ref in read_page(index).references:
            if ref.tag == "meta" and not is_external(ref.url):
                return resolve(index, ref.url, root)[0]
    return index


def check_landing_page(root: Path, notebooks: Iterable[str], report: Report) -> None:
    """Check that the landing page links to ``notebooks/<name>.html`` for each name."""
    landing = landing_page(root)
    if not landing.is_file():
        report.problems.append(f"{_where(landing, root)}: the landing page is missing")
        return
    linked = {
        resolve(landing, ref.url, root)[0]
        for ref in read_page(landing).references
        if ref.tag == "a" and not is_external(ref.url)
    }
    for name in notebooks:
        page = root / "notebooks" / f"{name}.html"
        if Path(os.path.normpath(page)) not in linked:
            report.problems.append(
                f"{_where(landing, root)}: no link to the notebook page notebooks/{name}.html"
            )


def check_site(root: Path, notebooks: Iterable[str] = ()) -> Report:
    """Check every page under ``root`` (see the module docstring); return the counts.

    ``notebooks`` are the notebooks' names (``01_data_exploration``, ...) that the landing
    page must link to.
    """
    report = Report()
    if not root.is_dir():
        report.problems.append(f"{root}: no built site here (build it first)")
        return report
    pages = {path: read_page(path) for path in html_pages(root)}
    report.pages = len(pages)
    for page in list(pages.values()):
        for ref in page.references:
            check_reference(ref, root, pages, report)
        for css in page.css:
            for url in css_external_urls(css):
                where = _where(page.path, root)
                report.problems.append(f"{where}: inline style loads from another site: {url}")
    check_landing_page(root, notebooks, report)
    return report


def summary(report: Report, seconds: float | None, mathjax: str | None) -> str:
    """Return the lines a person can paste into a report."""
    lines = []
    if seconds is not None:
        lines.append(f"built in {seconds:.1f} s with 0 warnings (-W -n --keep-going)")
    lines.append(
        f"{report.pages} HTML pages; {report.internal_links} internal links checked "
        f"({report.anchors} with a #anchor); {report.images} images checked; "
        f"{len(report.external_links)} external hyperlinks seen (not followed)"
    )
    if mathjax:
        lines.append(mathjax)
    if report.ok:
        lines.append("no broken link, no missing image, no asset from a CDN")
    else:
        lines.append(f"{len(report.problems)} problems:")
        lines.extend(f"  {problem}" for problem in report.problems)
    return "\n".join(lines)


# --------------------------------------------------------------------------- building


def build_command() -> list[str]:
    """Return the ``jupyter-book build`` command line, run from the course folder."""
    scripts = Path(sys.executable).parent
    book = shutil.which("jupyter-book", path=str(scripts)) or str(scripts / "jupyter-book")
    return [
        book, "build", ".",
        "--config", "site/_config.yml", "--toc", "site/_toc.yml", "--path-output", "site",
        "--all", "-W", "-n", "--keep-going",
    ]  # fmt: skip


def build(root: Path = ROOT) -> tuple[int, str, float]:
    """Build the site from scratch; return the exit code, the build's output and its seconds."""
    shutil.rmtree(root / "site" / "_build", ignore_errors=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")}
    start = time.monotonic()
    done = subprocess.run(
        build_command(), cwd=root, env=env, capture_output=True, text=True, check=False
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - start


def notebook_names(root: Path = ROOT) -> list[str]:
    """Return the course's notebooks' names, e.g. ``01_data_exploration``."""
    return sorted(path.stem for path in (root / "notebooks").glob("[0-9]*.ipynb"))


def main(argv: list[str] | None = None) -> int:
    """Build the site (unless ``--check-only``), check it, print the summary; 0 if all passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check-only", action="store_true", help="check site/_build/html without building"
    )
    parser.add_argument(
        "--run", default="default", help="the run whose model the Try page runs (default: default)"
    )
    args = parser.parse_args(argv)
    seconds = mathjax = None
    if not args.check_only:
        code, output, seconds = build()
        if code != 0:
            print(output, end="")
            print(f"site: jupyter-book build failed (exit code {code})", file=sys.stderr)
            return code
        _, mathjax = vendor_mathjax(HTML / "_static")
        from try_page import build_try_page  # tools/try_page.py, beside this script

        mathjax = "\n".join([mathjax, *build_try_page(HTML / "_static", args.run).lines])
        # index.html only redirects and names no icon: browsers then ask for /favicon.ico
        shutil.copyfile(HTML / "_static" / "favicon.png", HTML / "favicon.ico")
    report = check_site(HTML, notebook_names())
    print(summary(report, seconds, mathjax))
    return 0 if report.ok else 1


# --------------------------------------------------------------------------- Sphinx extension


_KEPT: dict[int, list[str]] = {}


def _keep_constant_docstring(app, what: str, name: str, obj, options, lines: list[str]) -> None:
    """Before napoleon: remember a constant's docstring as written (see :func:`setup`)."""
    if what in ("data", "attribute"):
        _KEPT[id(lines)] = list(lines)


def _restore_constant_docstring(app, what: str, name: str, obj, options, lines: list[str]) -> None:
    """After napoleon: put back what :func:`_keep_constant_docstring` remembered."""
    kept = _KEPT.pop(id(lines), None)
    if kept is not None:
        lines[:] = kept


def setup(app) -> dict:
    """Sphinx extension entry point (``local_extensions`` in site/_config.yml).

    The course documents its constants with ``#:`` comments in plain sentences; napoleon
    (Google style) reads a first line ``Named settings for notebook 04: ...`` as the type
    "Named settings for notebook 04". Constants' docstrings are kept as written, around
    napoleon (which listens at the default priority, 500).
    """
    app.connect("autodoc-process-docstring", _keep_constant_docstring, priority=400)
    app.connect("autodoc-process-docstring", _restore_constant_docstring, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    sys.exit(main())
