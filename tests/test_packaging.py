"""The course's packaging: one set of pins, one Python floor, one version number."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import mnist_helpers
from mnist_helpers.env import MIN_PYTHON

REPO = Path(__file__).resolve().parent.parent
#: ``name==version``, optionally with an environment marker (``; platform_machine != ...``).
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)(\s*;.+)?$")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = PIN.match(line)
            assert match, f"requirements.txt: {line!r} is not a `name==version` pin"
            pins[_normalize(match[1])] = match[2]
    return pins


def environment_yml() -> dict:
    return yaml.safe_load((REPO / "environment.yml").read_text())


def environment_pip_entries() -> list[str]:
    sections = [d["pip"] for d in environment_yml()["dependencies"] if isinstance(d, dict)]
    assert sections, "environment.yml has no `pip:` section under dependencies"
    return [str(entry).strip() for section in sections for entry in section]


def environment_pins() -> dict[str, str]:
    pins = {}
    for entry in environment_pip_entries():
        match = PIN.match(entry)
        if match:  # "-e ." and any non-pin entry are not pins
            pins[_normalize(match[1])] = match[2]
    return pins


def test_requirements_and_environment_yml_pin_the_same_versions():
    requirements, environment = requirements_pins(), environment_pins()
    assert requirements, "requirements.txt pins nothing"
    disagreements = []
    for name in sorted(requirements.keys() | environment.keys()):
        in_req, in_env = requirements.get(name), environment.get(name)
        if in_req is None:
            disagreements.append(
                f"{name}: environment.yml pins {in_env}, requirements.txt lacks it"
            )
        elif in_env is None:
            disagreements.append(
                f"{name}: requirements.txt pins {in_req}, environment.yml lacks it"
            )
        elif in_req != in_env:
            disagreements.append(
                f"{name}: requirements.txt pins {in_req}, environment.yml pins {in_env}"
            )
    assert not disagreements, "pins disagree:\n" + "\n".join(disagreements)


def test_environment_yml_installs_the_course_package():
    assert "-e ." in environment_pip_entries()


def pyproject() -> dict:
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def test_environment_yml_python_is_3_11():
    specs = [
        d
        for d in environment_yml()["dependencies"]
        if isinstance(d, str) and d.startswith("python")
    ]
    assert len(specs) == 1, f"expected one python entry in environment.yml, got {specs}"
    match = re.fullmatch(r"python\s*(?:=|==|>=)\s*(\d+)\.(\d+)(?:\.[\d*]+)?", specs[0])
    assert match, f"environment.yml: cannot read a Python version from {specs[0]!r}"
    assert (int(match[1]), int(match[2])) >= MIN_PYTHON, specs[0]


def test_every_place_names_the_same_python_floor():
    """numpy 2.4, pandas 3.1 and keras 3.15 need Python 3.11: pyproject, env, README, ruff."""
    assert MIN_PYTHON == (3, 11)
    assert pyproject()["project"]["requires-python"] == ">=3.11"
    assert pyproject()["tool"]["ruff"]["target-version"] == "py311"
    readme = (REPO / "README.md").read_text()
    assert "Python 3.11 or newer" in readme and "3.10" not in readme
    script = (REPO / "tools" / "check_python.py").read_text()
    assert "NEEDED = (3, 11)" in script


def test_environment_yml_tells_conda_users_to_install_the_kernel_with_install_kernel():
    text = (REPO / "environment.yml").read_text()
    assert "install_kernel()" in text and "ipykernel install" not in text


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level names each module of mnist_helpers imports: {'module': {...}, 'lazy': {...}}."""
    found = {"module": set(), "lazy": set()}
    for path in sorted((REPO / "mnist_helpers").glob("*.py")):
        tree = ast.parse(path.read_text())
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                root = name.split(".")[0]
                if root in sys.stdlib_module_names or root in ("mnist_helpers", "__future__"):
                    continue
                found["module" if id(node) in top else "lazy"].add(root)
    return found


def _requirement_names(requirements: list[str]) -> set[str]:
    return {_normalize(re.split(r"[<>=!~ \[;]", r, maxsplit=1)[0]) for r in requirements}


def test_pip_install_dot_declares_what_the_modules_import():
    """`pip install .` must give a package whose every module imports (no hidden needs)."""
    project = pyproject()["project"]
    core = _requirement_names(project["dependencies"])
    extras = set().union(*map(_requirement_names, project["optional-dependencies"].values()))
    distributions = importlib.metadata.packages_distributions()
    imports = _third_party_imports()
    for kind, roots in imports.items():
        for root in sorted(roots):
            names = {_normalize(d) for d in distributions.get(root, [root])}
            allowed = core if kind == "module" else core | extras
            assert names & allowed, (
                f"mnist_helpers imports {root!r} ({kind} level) but pyproject.toml does not "
                f"declare it ({sorted(names)}) in dependencies"
                + ("" if kind == "module" else " or an extra")
            )
    assert {"pytest", "nbval", "ruff"} <= _requirement_names(
        project["optional-dependencies"]["dev"]
    )


def lock_entries(lock: str = "requirements.lock") -> dict[str, tuple[str, bool]]:
    """A lock file: {name: (version, pinned directly by requirements.txt)}."""
    entries: dict[str, tuple[str, bool]] = {}
    name = None
    for line in (REPO / lock).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", line)
        if match:
            name = _normalize(match[1])
            entries.setdefault(name, (match[2], False))
        elif name and re.match(r"^\s+#\s+(via )?-r requirements\.txt", line):
            entries[name] = (entries[name][0], True)
    return entries


def test_lock_is_complete_hashed_and_in_step_with_requirements_txt():
    """Stale lock = requirements.txt changed without `make lock`: this test says so."""
    text = (REPO / "requirements.lock").read_text()
    entries = lock_entries()
    direct = {name: version for name, (version, is_direct) in entries.items() if is_direct}
    pins = requirements_pins()
    stale = "requirements.lock is stale: run `make lock` (pip install uv first)"
    assert direct == pins, f"{stale}; lock says {direct}, requirements.txt {pins}"
    assert len(entries) > 3 * len(pins), "the lock must pin the whole environment"
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    unhashed = [b.split()[0] for b in blocks if b.strip() and "--hash=sha256:" not in b]
    assert not unhashed, f"entries without hashes: {unhashed}"


def test_makefile_installs_from_the_lock_and_checks_python_first():
    makefile = (REPO / "Makefile").read_text()
    assert "-r requirements.lock" in makefile and "-r requirements.txt" not in makefile
    assert re.search(r"^\$\(STAMP\): requirements\.lock .*\| python-check$", makefile, re.M)


@pytest.mark.parametrize("venv", [False, True])
def test_an_old_python_stops_with_a_clear_message(venv):
    """tools/check_python.py, as run by `make`, under a Python that says it is 3.10."""
    pretend = (
        "import sys; sys.version_info = (3, 10, 13, 'final', 0); "
        f"sys.argv = {['check_python.py'] + ['--venv'] * venv!r}; "
        "exec(open('tools/check_python.py').read())"
    )
    done = subprocess.run([sys.executable, "-c", pretend], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 1
    assert "the course needs Python 3.11 or newer" in done.stderr
    assert "is Python 3.10" in done.stderr
    assert ("rm -rf .venv" in done.stderr) == venv
    ok = subprocess.run([sys.executable, "tools/check_python.py"], cwd=REPO, capture_output=True)
    assert ok.returncode == 0 and not ok.stderr


def test_package_version_matches_installed_distribution():
    installed = importlib.metadata.version("mnist_helpers")
    assert mnist_helpers.__version__ == installed, (
        f"mnist_helpers.__version__ is {mnist_helpers.__version__} but the installed "
        f"distribution is {installed}: reinstall: `.venv/bin/python -m pip install --no-deps -e .`"
    )


def test_the_web_lock_adds_to_the_course_lock_and_changes_none_of_its_pins():
    """requirements-web.lock (make site, the browser tests) installs on top of the course's
    environment: every package both locks name must have the same version in both."""
    course, web = lock_entries(), lock_entries("requirements-web.lock")
    different = {n: (v, web[n][0]) for n, (v, _) in course.items() if n in web and web[n][0] != v}
    assert not different, f"the locks disagree ({different}): run `make lock`"
    assert set(course) <= set(web), sorted(set(course) - set(web))
    added = [line.split("#")[0].strip() for line in (REPO / "requirements-web.txt").open()]
    for requirement in filter(None, added):
        if not requirement.startswith("-r"):
            name, version = requirement.split("==")
            assert web[_normalize(name)][0] == version, f"{name}: run `make lock`"


def test_the_package_ships_the_digit_pads_script():
    """`pip install .` (not -e) must carry the pad's JavaScript, or 06's pad draws nothing."""
    from mnist_helpers.canvas import PAD_SCRIPT

    patterns = pyproject()["tool"]["setuptools"]["package-data"]["mnist_helpers"]
    relative = PAD_SCRIPT.relative_to(REPO / "mnist_helpers")
    assert PAD_SCRIPT.is_file() and any(relative.match(pattern) for pattern in patterns)
