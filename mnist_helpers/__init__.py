"""The small, tested package behind the MNIST CNN course's notebooks: one module per concern
(``from mnist_helpers.data import load_mnist``); every notebook starts with :func:`check_env`."""

__version__ = "0.1.0"

from mnist_helpers.env import check_env  # noqa: E402

__all__ = ["__version__", "check_env"]
