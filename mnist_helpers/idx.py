"""Read and write IDX files, the simple binary format MNIST is distributed in.

An IDX file is two zero bytes, one byte for the type of the numbers (0x08 = unsigned byte,
the only one MNIST uses), one byte for the number of dimensions, a big-endian 32-bit size
per dimension, then the numbers, row-major: ``train-images-idx3-ubyte`` starts with
``00 00 08 03``, then 60000, 28, 28. Taught in 01.
"""

from __future__ import annotations

import math
import struct

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
    """Decode the header at the start of ``data`` (the file ``name``, for messages) and return
    ``(dtype, shape, header_length)``, or raise an :class:`IDXFormatError`. Taught in 01."""
    if len(data) < 4:
        raise IDXFormatError(f"{name}: file is {len(data)} bytes, too short for an IDX header")
    if data[0] != 0 or data[1] != 0:
        raise IDXFormatError(
            f"{name}: wrong magic number {data[:4].hex()} (an IDX file starts with two zero "
            "bytes; is it still gzip-compressed, or not an IDX file at all?)"
        )
    type_code, ndim = data[2], data[3]
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


def decode_idx(
    data: bytes, name: str = "<bytes>", *, expected_dtype: np.dtype | None = None
) -> np.ndarray:
    """Decode a whole (uncompressed) IDX file into an array of its shape and dtype, in native
    byte order; an :class:`IDXFormatError` names ``name`` and what was wrong (a length other
    than the header promises, or another dtype than ``expected_dtype``)."""
    dtype, shape, offset = parse_idx_header(data, name)
    if expected_dtype is not None and dtype != np.dtype(expected_dtype):
        raise IDXFormatError(f"{name}: holds {dtype} numbers, expected {np.dtype(expected_dtype)}")
    expected = offset + math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "has trailing bytes"
        raise IDXFormatError(
            f"{name}: {problem}: header promises shape {shape} = {expected} bytes, "
            f"file has {len(data)}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False)


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
