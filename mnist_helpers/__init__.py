"""mnist_helpers: the small, tested package behind the MNIST CNN course notebooks.

One module per concern; import what a notebook needs, e.g.
``from mnist_helpers.data import load_mnist``. Start every notebook with :func:`check_env`.
"""

__version__ = "0.1.0"

from mnist_helpers.env import check_env  # noqa: E402

__all__ = ["__version__", "check_env"]
