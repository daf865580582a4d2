"""The shared argument checks: what they accept, what they refuse and what the message says."""

import numpy as np
import pytest

from mnist_helpers.checks import check_bool, check_choice, check_int, check_number, error_line


def test_check_int_accepts_integers_in_range_and_returns_plain_ints():
    assert check_int("epochs", np.int64(3)) == 3 and type(check_int("epochs", np.int64(3))) is int
    assert check_int("seed", 0, minimum=0) == 0
    assert check_int("severity", 5, minimum=1, maximum=5) == 5


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        ("ten", {}, "epochs must be a positive integer, got 'ten'"),
        (True, {}, "epochs must be a positive integer, got True"),
        (2.0, {}, "epochs must be a positive integer, got 2.0"),
        (0, {}, "epochs must be a positive integer, got 0"),
        (-1, {"minimum": 0}, "epochs must be an integer >= 0, got -1"),
        (6, {"maximum": 5}, "epochs must be an integer from 1 to 5, got 6"),
        (10**6, {"maximum": 60_000}, "an integer from 1 to 60,000, got 1000000"),
    ],
)
def test_check_int_names_the_argument_the_value_and_the_range(value, kwargs, message):
    with pytest.raises(ValueError) as err:
        check_int("epochs", value, **kwargs)
    assert message in str(err.value)


def test_a_hint_says_how_to_fix_it():
    with pytest.raises(ValueError, match=r"got 'x' \(set it in the parameters cell\)$"):
        check_int("epochs", "x", hint="set it in the parameters cell")


def test_check_number():
    assert check_number("learning_rate", 1, 0, 1, low_open=True) == 1.0
    for bad in (0, 1.5, True, "0.1", float("nan")):
        with pytest.raises(ValueError, match=r"learning_rate must be a number in \(0, 1\]"):
            check_number("learning_rate", bad, 0, 1, low_open=True)
    with pytest.raises(ValueError, match="p must be a number >= 0, got -0.1"):
        check_number("p", -0.1, 0)


def test_check_bool_and_check_choice():
    assert check_bool("augment", False) is False
    with pytest.raises(ValueError, match="augment must be True or False, got 1"):
        check_bool("augment", 1)
    assert check_choice("runtime", "onnx", ("keras", "onnx")) == "onnx"
    with pytest.raises(ValueError, match=r"runtime must be one of \['keras', 'onnx'\], got 'tf'"):
        check_choice("runtime", "tf", ("keras", "onnx"))


def test_error_line_is_the_type_and_the_first_line_cut_short():
    assert error_line(OSError("disk full\nmore detail")) == "OSError: disk full"
    assert error_line(KeyError()) == "KeyError"
    long = error_line(ValueError("x" * 1000), limit=50)
    assert len(long) == 50 and long.endswith("...")
