"""Stop at once, with a clear message, if this Python is older than the course needs.

The Makefile runs it with the interpreter of an existing .venv, else with $(PYTHON), before
anything else. Written so that any Python from 3.6 on can run it (nothing newer than f-strings).
Usage: python tools/check_python.py [--venv]   (--venv: this interpreter is .venv's)
"""

import sys

NEEDED = (3, 11)

if sys.version_info[:2] < NEEDED:
    found = "{}.{}".format(*sys.version_info[:2])
    if "--venv" in sys.argv[1:]:
        fix = (
            ".venv was built with it: remove it (rm -rf .venv) and run make again with a "
            "newer Python, e.g. make run PYTHON=python3.11"
        )
    else:
        fix = "install Python 3.11 or newer and name it, e.g. make run PYTHON=python3.11"
    sys.exit(
        f"error: the course needs Python {NEEDED[0]}.{NEEDED[1]} or newer, "
        f"but {sys.executable} is Python {found}; {fix}"
    )
