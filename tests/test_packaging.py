"""The course's packaging: one set of pins, one Python floor, one version number."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import yaml

import mnist_helpers

REPO = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*(\S+)$")


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


def test_environment_yml_python_is_at_least_3_10():
    specs = [
        d
        for d in environment_yml()["dependencies"]
        if isinstance(d, str) and d.startswith("python")
    ]
    assert len(specs) == 1, f"expected one python entry in environment.yml, got {specs}"
    match = re.fullmatch(r"python\s*(?:=|==|>=)\s*(\d+)\.(\d+)(?:\.[\d*]+)?", specs[0])
    assert match, f"environment.yml: cannot read a Python version from {specs[0]!r}"
    assert (int(match[1]), int(match[2])) >= (3, 10), specs[0]


def test_pyproject_requires_python_3_10_or_newer():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        text = (REPO / "pyproject.toml").read_text()
        requires = re.search(r'^requires-python\s*=\s*"([^"]*)"', text, re.M)[1]
    else:
        with open(REPO / "pyproject.toml", "rb") as f:
            requires = tomllib.load(f)["project"]["requires-python"]
    assert requires == ">=3.10"


def test_package_version_matches_installed_distribution():
    installed = importlib.metadata.version("mnist_helpers")
    assert mnist_helpers.__version__ == installed, (
        f"mnist_helpers.__version__ is {mnist_helpers.__version__} but the installed "
        f"distribution is {installed}: reinstall: `.venv/bin/python -m pip install --no-deps -e .`"
    )
