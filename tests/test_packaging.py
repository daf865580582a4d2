"""The course's packaging: one set of pins, one Python floor, one version number."""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import mnist_helpers
from mnist_helpers.env import MIN_PYTHON

REPO = Path(__file__).resolve().parent.parent
MAKE = shutil.which("make")  # found before the tests' sandbox empties PATH
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
    """numpy 2.4, pandas 3.1 and keras 3.15 need Python 3.11: pyproject, env, make, ruff."""
    assert MIN_PYTHON == (3, 11)
    assert pyproject()["project"]["requires-python"] == ">=3.11"
    assert pyproject()["tool"]["ruff"]["target-version"] == "py311"
    script = ast.parse((REPO / "tools" / "check_python.py").read_text())
    needed = [
        ast.literal_eval(node.value)
        for node in script.body
        if isinstance(node, ast.Assign)
        and [getattr(t, "id", "") for t in node.targets] == ["NEEDED"]
    ]
    assert needed == [MIN_PYTHON]


def test_environment_yml_tells_conda_users_a_kernel_command_that_works():
    """The `python -c "..."` its comment gives conda users imports what exists (not run here:
    it would install a kernel)."""
    commands = re.findall(r'python -c "([^"]+)"', (REPO / "environment.yml").read_text())
    assert commands, "environment.yml tells conda users no kernel command"
    for command in commands:
        for node in ast.walk(ast.parse(command)):
            if isinstance(node, ast.ImportFrom):
                module = importlib.import_module(node.module)
                assert all(hasattr(module, alias.name) for alias in node.names), command
        assert "install_kernel()" in command  # ipykernel's own installer lacks nbval's flags


def _imports(tree: ast.AST, top_level: bool) -> set[str]:
    """The modules a module (or a notebook cell) imports: all of them, or (``top_level``)
    those it needs to be imported: not inside a function, nor in a ``try`` that catches
    their ImportError (a fallback, or a message naming the extra to install)."""
    found = set()
    for node in ast.iter_child_nodes(tree):
        if top_level and isinstance(node, ast.Try):
            caught = {ast.unparse(handler.type or ast.Name("")) for handler in node.handlers}
            if caught & {"ImportError", "ModuleNotFoundError"}:
                continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            if node.module == "mnist_helpers":  # from mnist_helpers import plots
                found |= {f"mnist_helpers.{alias.name}" for alias in node.names}
        if not (top_level and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)):
            found |= _imports(node, top_level)
    return found


def _module_imports(top_level: bool) -> dict[str, set[str]]:
    """{``mnist_helpers.x``: the modules its source imports}, ``mnist_helpers`` for __init__."""
    return {
        "mnist_helpers" + ("" if path.stem == "__init__" else f".{path.stem}"): _imports(
            ast.parse(path.read_text()), top_level
        )
        for path in sorted((REPO / "mnist_helpers").glob("*.py"))
    }


def _notebook_imports() -> set[str]:
    """The modules the course notebooks' code cells import (IPython's %magics left out)."""
    found = set()
    for path in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                lines = "".join(cell["source"]).splitlines()
                code = "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))
                found |= _imports(ast.parse(code, str(path)), top_level=False)
    return found


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distributions(module: str) -> set[str]:
    """The distributions that provide ``module`` (``PIL`` -> pillow, ``yaml`` -> pyyaml)."""
    root = module.split(".")[0]
    return {_normalize(d) for d in _packages_distributions().get(root, [root])}


def _third_party(modules: set[str]) -> set[str]:
    return {
        m.split(".")[0]
        for m in modules
        if m.split(".")[0] not in sys.stdlib_module_names | {"mnist_helpers", "__future__"}
    }


def _requirement_names(requirements: list[str]) -> set[str]:
    return {_normalize(re.split(r"[<>=!~ \[;]", r, maxsplit=1)[0]) for r in requirements}


def _extras() -> dict[str, set[str]]:
    """Each extra's distributions, with an extra named inside another (``mnist_helpers[a]``)
    expanded."""
    declared = pyproject()["project"]["optional-dependencies"]
    extras = {name: _requirement_names(reqs) - {"mnist-helpers"} for name, reqs in declared.items()}
    for name, reqs in declared.items():
        for inner in re.findall(r"^mnist_helpers\[([a-z,]+)\]$", "\n".join(reqs), re.M):
            for other in inner.split(","):
                extras[name] |= extras[other]
    return extras


def test_pip_install_dot_gives_everything_the_notebooks_import():
    """`pip install .` is enough to import what a notebook imports, and what those modules
    import when imported (not Jupyter, papermill or Dask, which come with extras)."""
    core = _requirement_names(pyproject()["project"]["dependencies"])
    graph = _module_imports(top_level=True)
    needed, todo = set(), list(_notebook_imports())
    while todo:  # the notebooks' imports, and what those import in turn
        module = todo.pop()
        if module not in needed:
            needed.add(module)
            todo += graph.get(module, ())
            if module.startswith("mnist_helpers."):  # its package's __init__ runs first
                todo.append("mnist_helpers")
    assert {"mnist_helpers.data", "mnist_helpers.canvas", "mnist_helpers.env"} <= needed
    missing = {root: _distributions(root) for root in _third_party(needed)}
    missing = {root: names for root, names in missing.items() if not names & core}
    assert not missing, f"the notebooks need {missing}, not in pyproject's dependencies"
    assert not {"papermill", "jupyter-client", "traitlets", "dask", "distributed", "psutil"} & core


def test_every_import_of_the_package_is_declared_in_pyproject():
    """What a module imports at its top is a dependency or an extra it names (see the next
    test); what it imports inside a function, a dependency or an extra."""
    project = pyproject()["project"]
    core = _requirement_names(project["dependencies"])
    declared = core.union(*_extras().values())
    for module, imports in _module_imports(top_level=False).items():
        for root in sorted(_third_party(imports)):
            assert _distributions(root) & declared, f"{module} imports {root}, not declared"
    assert {"pytest", "nbval", "ruff"} <= _extras()["dev"]


@pytest.mark.parametrize(
    ("module", "extra", "missing"),
    [
        ("course", "course", "papermill"),
        ("course", "course", "jupyter_client"),
        ("sweep", "sweep", "distributed"),
        ("sweep", "sweep", "papermill"),
    ],
)
def test_a_module_that_needs_an_extra_says_which_to_install(module, extra, missing):
    """Imported without a package of its extra: an ImportError that names the extra."""
    block = f"import sys; sys.modules[{missing!r}] = None; import mnist_helpers.{module}"
    done = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: ") and missing in last, last
    assert f'pip install "mnist_helpers[{extra}]"' in last
    assert extra in _extras() and _distributions(missing) & _extras()[extra]


def test_make_installs_every_extra():
    """`make` installs requirements.lock (and requirements-web.lock for the website and the
    browser tests): together they pin every package of every extra."""
    course, web = lock_entries(), lock_entries("requirements-web.lock")
    for extra, names in _extras().items():
        unpinned = sorted(names - set(web if extra == "web" else course))
        assert not unpinned, f"the {extra} extra's {unpinned} are not in the locks: make lock"


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


def test_make_checks_python_first_then_installs_from_the_lock():
    """What `make setup` runs when it must (re)install: the Python check, then the lock."""
    if MAKE is None:
        pytest.skip("make is not installed")
    done = subprocess.run(
        [MAKE, "-n", "-B", "setup"], cwd=REPO, capture_output=True, text=True, check=True
    )
    lines = done.stdout.splitlines()
    checks = [i for i, line in enumerate(lines) if "tools/check_python.py" in line]
    installs = [i for i, line in enumerate(lines) if "pip install" in line]
    assert checks and installs and checks[0] < installs[0], done.stdout
    requirements = [arg for line in lines for arg in re.findall(r"-r (\S+)", line)]
    assert requirements == ["requirements.lock"], done.stdout


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
