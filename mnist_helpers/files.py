"""Write files and folders under a temporary name beside them, renamed once complete (and
removed if anything fails, even Ctrl-C): a reader sees the old one or the new one, never
half of one. Read the course's YAML safely."""

from __future__ import annotations

import os
import reprlib
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

#: What every temporary file's name contains (``.gitignore`` lists it too).
PARTIAL = ".partial"


def _new_temporary(path: Path) -> Path:
    """Create an empty, unique temporary file beside ``path``, with the usual permissions."""
    while True:
        tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}{PARTIAL}{path.suffix}")
        try:  # 0o666 minus the umask, as for any new file; O_EXCL: never someone else's
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Give a temporary path (with ``path``'s suffix) to write to, e.g. with ``fig.savefig``;
    rename it onto ``path`` when the block succeeds, remove it if the block raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temporary(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def staged_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """Give a new empty folder beside ``folder`` (``.<name>~<random>.partial``) to build in;
    when the block succeeds it takes the place of ``folder`` (removed), in two renames; if
    the block raises, it is removed and ``folder`` stays as it was."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(4)
    staging = folder.with_name(f".{folder.name}~{token}{PARTIAL}")
    staging.mkdir()  # with the usual permissions; never an existing folder
    retired = folder.with_name(f".{folder.name}~old-{token}{PARTIAL}")
    try:
        yield staging
        if folder.exists() or folder.is_symlink():
            os.replace(folder, retired)
        try:
            os.replace(staging, folder)
        except BaseException:
            if retired.exists() and not folder.exists():
                os.replace(retired, folder)  # put the old one back
            raise
    finally:
        _remove(staging)
        _remove(retired)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode("utf-8"))


#: The largest YAML file the course reads (parameter files and sweep grids are a few lines).
MAX_YAML_BYTES = 64 * 1024


class _PlainYamlLoader(yaml.SafeLoader):
    """YAML's safe loader without anchors and aliases (a few hundred bytes of them can expand
    to gigabytes) and without a key given twice in one mapping (YAML keeps the last)."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.YAMLError(
                f"line {event.start_mark.line + 1}: anchors (&name) and aliases (*name) are "
                "not allowed here"
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()  # YAML itself keeps the last of two equal keys, silently
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value in seen:
                raise yaml.YAMLError(
                    f"line {key_node.start_mark.line + 1}: {key_node.value!r} is given twice; "
                    "keep one"
                )
            seen.add(key_node.value)
        return super().construct_mapping(node, deep)


def read_yaml(path: str | os.PathLike, what: str = "YAML file") -> object:
    """Read a small YAML file of plain values. A missing or oversized file, text that is not
    UTF-8, a syntax error, a tag, an anchor or a key given twice raise a ValueError naming the
    file (as ``what``: "grid file", ...) and the line."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise IsADirectoryError("it is not a file")
        if size > MAX_YAML_BYTES:
            raise ValueError(f"{size:,} bytes, more than the {MAX_YAML_BYTES:,} allowed")
        text = path.read_bytes().decode("utf-8")
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        if isinstance(err, UnicodeDecodeError):
            reason = "it is not UTF-8 text"
        raise ValueError(f"cannot read the {what} {path}: {reason}") from None
    try:
        return yaml.load(text, Loader=_PlainYamlLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ValueError(f"{what} {path}: {line}{problem} (plain YAML values only)") from None


def check_plain_value(value: object, where: str, hint: str = "") -> None:
    """Refuse a value read from a YAML file that a notebook's parameters cell could not take
    as it is: anything but text, a number, true/false or null (a list, a mapping, a date).
    ``where`` names it in the message ("grid file g.yaml: fixed 'seed'"); ``hint`` is added."""
    if not isinstance(value, str | int | float | bool | None):
        raise ValueError(
            f"{where}: {reprlib.repr(value)} must be a single value (text, a number, "
            f"true/false or null){hint}"
        )
