"""mnist_helpers.console: start-up chatter is dropped, every other line still shows."""

from __future__ import annotations

import os
import sys

import pytest

from mnist_helpers.console import is_noise, quiet_stderr, without_noise

# seen on this course's machines (2026): TensorFlow 2.21 and a Jupyter kernel starting
NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1795934413.955597    7521 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "W0000 00:00:1795934413.955597    7521 gpu_device.cc:2342] Cannot dlopen some GPU libraries.",
    "2026-11-29 06:00:00.123456: I tensorflow/core/util/port.cc:153] oneDNN custom operations "
    "are on. You may see slightly different numerical results due to floating-point round-off.",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow "
    "with the appropriate compiler flags.",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    "[IPKernelApp] WARNING | Kernel is running over TCP without encryption. All communication "
    "(including code and outputs) is sent in plain text and is susceptible to eavesdropping.",
]
REAL = [
    "E0000 00:00:1795934413.955597    7521 cuda_dnn.cc:8310] Unable to load cuDNN.",
    "Traceback (most recent call last):",
    "predict: samples/x.png: not an image",
    "MemoryError",
    "WARNING: something else that the user should read",
]


@pytest.mark.parametrize("line", NOISE)
def test_start_up_chatter_is_noise(line):
    assert is_noise(line)


@pytest.mark.parametrize("line", REAL)
def test_errors_and_other_lines_are_not_noise(line):
    assert not is_noise(line)


def test_without_noise_keeps_the_other_lines_in_order():
    text = "\n".join([NOISE[0], REAL[1], NOISE[1], REAL[2]]) + "\n"
    assert without_noise(text) == f"{REAL[1]}\n{REAL[2]}\n"


def test_quiet_stderr_catches_what_c_code_writes_and_passes_on_the_rest(capfd):
    with quiet_stderr():
        os.write(2, f"{NOISE[0]}\n{NOISE[1]}\n".encode())  # as TensorFlow's C++ does
        os.write(2, b"a real problem\n")
        print("a Python message", file=sys.stderr)
    captured = capfd.readouterr()
    # (under pytest, Python's own writes bypass the file descriptor: compare without order)
    assert sorted(captured.err.splitlines()) == ["a Python message", "a real problem"]
    os.write(2, b"after the block\n")  # standard error is back
    assert capfd.readouterr().err == "after the block\n"


def test_quiet_stderr_restores_standard_error_when_the_block_fails(capfd):
    with pytest.raises(RuntimeError, match="boom"), quiet_stderr():
        os.write(2, b"said before failing\n")
        raise RuntimeError("boom")
    assert capfd.readouterr().err == "said before failing\n"
    os.write(2, b"still here\n")
    assert capfd.readouterr().err == "still here\n"
