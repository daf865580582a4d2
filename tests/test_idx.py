"""mnist_helpers.idx: the IDX file format, on tiny arrays made here."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from mnist_helpers.idx import IDXFormatError, decode_idx, encode_idx


def test_round_trip_uint8_images_keeps_shape_dtype_and_values():
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    blob = encode_idx(images)
    assert blob[:4] == b"\x00\x00\x08\x03"  # the MNIST magic number for images
    assert struct.unpack(">3I", blob[4:16]) == (5, 28, 28)
    assert len(blob) == 16 + 5 * 28 * 28
    decoded = decode_idx(blob, expected_dtype=np.uint8)
    assert decoded.shape == (5, 28, 28)
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, images)


def test_round_trip_uint8_labels_1d():
    labels = np.array([7, 2, 1, 0, 4, 1, 4, 9, 5, 9], dtype=np.uint8)
    blob = encode_idx(labels)
    assert blob[:8] == b"\x00\x00\x08\x01" + struct.pack(">I", 10)
    decoded = decode_idx(blob, expected_dtype=np.uint8)
    assert decoded.shape == (10,)
    np.testing.assert_array_equal(decoded, labels)


@pytest.mark.parametrize(
    ("dtype", "type_code"), [(np.float32, 0x0D), (np.int16, 0x0B), (np.float64, 0x0E)]
)
def test_round_trip_multibyte_dtype_is_big_endian_on_disk(dtype, type_code):
    array = np.array([[1.5, -2.0, 300.0], [0.0, 7.0, -1.0]]).astype(dtype)
    blob = encode_idx(array)
    assert blob[2] == type_code
    # IDX stores numbers big-endian whatever the machine's byte order.
    assert blob[12:] == array.astype(np.dtype(dtype).newbyteorder(">")).tobytes()
    decoded = decode_idx(blob)
    assert decoded.dtype == np.dtype(dtype)  # native order, usable as is
    assert decoded.shape == (2, 3)
    np.testing.assert_array_equal(decoded, array)


def test_encode_rejects_dtype_idx_cannot_hold():
    with pytest.raises(ValueError, match="int64"):
        encode_idx(np.arange(3, dtype=np.int64))


def test_decode_truncated_data_names_file_and_problem():
    blob = encode_idx(np.zeros((4, 28, 28), dtype=np.uint8))
    with pytest.raises(IDXFormatError) as err:
        decode_idx(blob[:-10], "train-images-idx3-ubyte")
    message = str(err.value)
    assert message.startswith("train-images-idx3-ubyte: truncated")
    assert f"{16 + 4 * 28 * 28} bytes" in message and f"file has {len(blob) - 10}" in message


def test_decode_trailing_bytes_names_file_and_problem():
    blob = encode_idx(np.arange(10, dtype=np.uint8)) + b"\x00\x01"
    with pytest.raises(IDXFormatError) as err:
        decode_idx(blob, "train-labels-idx1-ubyte")
    assert str(err.value).startswith("train-labels-idx1-ubyte: has trailing bytes")
    assert "file has 20" in str(err.value)


def test_decode_gzip_bytes_passed_raw_mentions_gzip():
    blob = gzip.compress(encode_idx(np.arange(10, dtype=np.uint8)))
    with pytest.raises(IDXFormatError) as err:
        decode_idx(blob, "t10k-labels-idx1-ubyte")
    message = str(err.value)
    assert message.startswith("t10k-labels-idx1-ubyte: wrong magic number 1f8b")
    assert "gzip" in message


def test_decode_unknown_type_code_names_code():
    blob = bytearray(encode_idx(np.arange(10, dtype=np.uint8)))
    blob[2] = 0x42
    with pytest.raises(IDXFormatError) as err:
        decode_idx(bytes(blob), "labels.idx")
    assert str(err.value).startswith("labels.idx: unknown IDX type code 0x42")
    assert "0x08" in str(err.value)  # lists the codes it does know


def test_decode_expected_dtype_mismatch_names_both_dtypes():
    blob = encode_idx(np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(IDXFormatError) as err:
        decode_idx(blob, "t10k-images-idx3-ubyte", expected_dtype=np.uint8)
    message = str(err.value)
    assert message.startswith("t10k-images-idx3-ubyte: holds >f4 numbers")
    assert message.endswith("expected uint8")


@pytest.mark.parametrize(
    ("blob", "problem"),
    [
        (b"\x00\x00", "file is 2 bytes, too short for an IDX header"),
        (b"\x00\x00\x08\x03" + struct.pack(">I", 60000), "truncated header (8 of 16 bytes)"),
        (b"\x00\x00\x08\x00", "header says 0 dimensions"),
    ],
    ids=["under-4-bytes", "missing-dimension-sizes", "zero-dimensions"],
)
def test_decode_too_short_or_empty_header_names_file(blob, problem):
    with pytest.raises(IDXFormatError) as err:
        decode_idx(blob, "train-images-idx3-ubyte")
    assert str(err.value) == f"train-images-idx3-ubyte: {problem}"


def test_idx_format_error_is_a_value_error():
    # Callers (like mnist_helpers.download) catch ValueError to try the next source.
    assert issubclass(IDXFormatError, ValueError)


def test_a_header_whose_sizes_multiply_beyond_64_bits_is_refused_as_truncated():
    # 65536 ** 4 = 2 ** 64: in 64-bit arithmetic that is 0, which the 20 bytes would "match"
    blob = b"\x00\x00\x08\x04" + struct.pack(">4I", 65536, 65536, 65536, 65536)
    with pytest.raises(IDXFormatError, match=r"^huge: truncated: header promises shape"):
        decode_idx(blob, "huge")
