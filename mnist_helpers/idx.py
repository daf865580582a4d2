"""Read and write IDX files, the simple binary format MNIST is distributed in.

An IDX file is a header followed by raw numbers:

* 2 zero bytes,
* 1 byte: the type code of the numbers (0x08 = unsigned byte, the only one MNIST uses),
* 1 byte: the number of dimensions ``ndim``,
* ``ndim`` big-endian 32-bit integers: the size of each dimension,
* the numbers themselves, row-major.

So ``train-images-idx3-ubyte`` starts with ``00 00 08 03``, then 60000, 28, 28.

Taught in 01.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path

import numpy as np

#: IDX type codes and the numpy dtypes they stand for (big-endian where it matters).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IDXFormatError(ValueError):
    """An IDX file is malformed: the message names the file and the problem."""


def parse_idx_header(data: bytes, name: str = "<bytes>") -> tuple[np.dtype, tuple[int, ...], int]:
    """Decode an IDX header.

    Args:
        data: the file's bytes (at least the header).
        name: the file's name, used in error messages.

    Returns:
        ``(dtype, shape, header_length)``.

    Raises:
        IDXFormatError: wrong magic number, unknown type code or truncated header.
    """
    if len(data) < 4:
        raise IDXFormatError(f"{name}: file is {len(data)} bytes, too short for an IDX header")
    zero1, zero2, type_code, ndim = data[0], data[1], data[2], data[3]
    if zero1 != 0 or zero2 != 0:
        raise IDXFormatError(
            f"{name}: wrong magic number {data[:4].hex()} (an IDX file starts with two zero "
            "bytes; is it still gzip-compressed, or not an IDX file at all?)"
        )
    if type_code not in IDX_DTYPES:
        raise IDXFormatError(
            f"{name}: unknown IDX type code 0x{type_code:02x} "
            f"(expected one of {', '.join(f'0x{c:02x}' for c in IDX_DTYPES)})"
        )
    if ndim == 0:
        raise IDXFormatError(f"{name}: header says 0 dimensions")
    header_length = 4 + 4 * ndim
    if len(data) < header_length:
        raise IDXFormatError(f"{name}: truncated header ({len(data)} of {header_length} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header_length])
    return IDX_DTYPES[type_code], tuple(int(s) for s in shape), header_length


def _check_length(name: str, shape: tuple[int, ...], expected: int, actual: int) -> None:
    """Raise an IDXFormatError unless the file's ``actual`` length is the ``expected`` one."""
    if actual != expected:
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise IDXFormatError(
            f"{name}: {problem}: header promises shape {shape} = {expected} bytes, "
            f"file has {actual}"
        )


def _promised_length(dtype: np.dtype, shape: tuple[int, ...], header_length: int) -> int:
    """The length of the file a header describes (Python integers: they never overflow)."""
    return header_length + math.prod(shape) * dtype.itemsize


def decode_idx(
    data: bytes,
    name: str = "<bytes>",
    *,
    expected_dtype: np.dtype | None = None,
    expected_ndim: int | None = None,
) -> np.ndarray:
    """Decode the bytes of an IDX file into a numpy array, checking every length.

    Args:
        data: the whole file's bytes (already decompressed).
        name: the file's name, used in error messages.
        expected_dtype: if given, the dtype the header must declare (MNIST: uint8).
        expected_ndim: if given, the number of dimensions the header must declare
            (3 for images, 1 for labels).

    Returns:
        An array with the header's shape and dtype in native byte order (read-only for
        single-byte types, which share the buffer).

    Raises:
        IDXFormatError: on any inconsistency, naming the file and what was wrong.
    """
    dtype, shape, offset = parse_idx_header(data, name)
    if expected_dtype is not None and dtype != np.dtype(expected_dtype):
        raise IDXFormatError(f"{name}: holds {dtype} numbers, expected {np.dtype(expected_dtype)}")
    if expected_ndim is not None and len(shape) != expected_ndim:
        raise IDXFormatError(
            f"{name}: has {len(shape)} dimensions {shape}, expected {expected_ndim} "
            f"({'images: count, rows, columns' if expected_ndim == 3 else 'labels: count'})"
        )
    _check_length(name, shape, _promised_length(dtype, shape, offset), len(data))
    array = np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | Path, **checks) -> np.ndarray:
    """Read an uncompressed IDX file from disk; see :func:`decode_idx` for ``checks``.

    The file's size is checked against the one its header promises before the numbers
    are read, so a huge file is refused at once.
    """
    path = Path(path)
    with path.open("rb") as f:
        header = f.read(4 + 4 * 255)  # the longest header there is
        dtype, shape, offset = parse_idx_header(header, path.name)
        expected = _promised_length(dtype, shape, offset)
        _check_length(path.name, shape, expected, os.fstat(f.fileno()).st_size)
        f.seek(0)
        data = f.read(expected + 1)
    return decode_idx(data, path.name, **checks)


def encode_idx(array: np.ndarray) -> bytes:
    """Encode a numpy array as the bytes of an IDX file (the inverse of :func:`decode_idx`)."""
    array = np.asarray(array)
    matches = [
        (code, dtype)
        for code, dtype in IDX_DTYPES.items()
        if array.dtype.kind == dtype.kind and array.dtype.itemsize == dtype.itemsize
    ]
    if not matches:
        raise ValueError(f"cannot store dtype {array.dtype} in an IDX file")
    code, dtype = matches[0]
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"an IDX file holds 1 to 255 dimensions, got {array.ndim}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=dtype).tobytes()
