# The MNIST CNN course: every command a learner, a teacher or CI needs.
#   make run    set up .venv, fetch MNIST, run the course headlessly
#   make test   set up, then lint and run the whole test suite (what CI runs)
#   make lab    open JupyterLab on the course kernel
#   make data   fetch and verify MNIST only
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
KERNEL := mnist-cnn-course
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONUNBUFFERED := 1

.PHONY: setup run test data lab lint clean

setup: $(STAMP)

# Re-runs only when the pins or the package metadata change.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -c "from mnist_helpers.env import install_kernel; install_kernel()"
	@touch $(STAMP)

data: $(STAMP)
	$(PY) -m mnist_helpers.data

run: data
	$(PY) -m mnist_helpers.data --summary --offline

lint: $(STAMP)
	$(PY) -m ruff check .

test: data lint
	$(PY) -m pytest

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

clean:
	rm -rf $(VENV) runs dist .pytest_cache .ruff_cache
