# The MNIST CNN course: every command a learner, a teacher or CI needs.
#   make run    set up .venv, fetch MNIST, run the course headlessly
#   make test   set up, then lint and run the whole test suite (what CI runs)
#   make test-fast  the quick unit tests (no notebooks, no real data, nothing marked slow): about a minute
#   make lab    open JupyterLab on the course kernel
#   make data   fetch and verify MNIST only
#   make notebooks  re-execute the committed notebooks (their outputs = a full default run)
#   make guide  rebuild docs/teaching.md's runtime table and every quoted number (README, guide, headers) from the committed notebooks
#   make student / make instructor   build dist/student/ (solutions stubbed) or dist/instructor/
#   make site   build the course's website (site/_build/html/index.html; no network needed)
#   make app    serve 06's digit pad on a page of its own (Voila), MODEL=path/to/model.keras
#   make lock   regenerate requirements.lock and requirements-web.lock (needs uv: pip install uv)
# Parameters reach the notebooks that declare them: make run EPOCHS=3 SEED=7, or PARAMS=my.yaml
# Without make (Windows): the README's "Without make" section gives the same commands.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
WEB_STAMP := $(VENV)/.installed-web
KERNEL := mnist-cnn-course
export TF_CPP_MIN_LOG_LEVEL ?= 3
export PYTHONUNBUFFERED := 1

NB_PARAMS := $(if $(PROFILE),-p profile $(PROFILE)) $(if $(EPOCHS),-p epochs $(EPOCHS)) \
	$(if $(BATCH_SIZE),-p batch_size $(BATCH_SIZE)) $(if $(LEARNING_RATE),-p learning_rate $(LEARNING_RATE)) \
	$(if $(SEED),-p seed $(SEED)) $(if $(ARCHITECTURE),-p architecture $(ARCHITECTURE)) $(if $(N_TRAIN),-p n_train $(N_TRAIN)) \
	$(if $(RUN_NAME),-p run_name $(RUN_NAME)) $(if $(PARAMS),--params $(PARAMS))

.PHONY: setup python-check run test test-fast data lab lint notebooks guide student instructor \
	lock clean web site app

setup: $(STAMP)

# The course needs Python 3.11 or newer: checked on every call, before anything else, with
# the interpreter of an existing .venv (the stamp below must not hide one built with an older
# Python), else with $(PYTHON).
python-check:
	@$(if $(wildcard $(PY)),$(PY) tools/check_python.py --venv,$(PYTHON) tools/check_python.py)

# Re-runs only when the lock or the package metadata change.
$(STAMP): requirements.lock pyproject.toml | python-check
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	$(PY) -c "from mnist_helpers.env import install_kernel; install_kernel()"
	@touch $(STAMP)

# The website's and the browser tests' extras (Jupyter Book, playwright), on top of the course:
# only `make site` and `make test` need them, so a learner's `make run` stays lean.
$(WEB_STAMP): requirements-web.lock $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-web.lock
	@touch $(WEB_STAMP)

web: $(WEB_STAMP)

data: $(STAMP)
	$(PY) -m mnist_helpers.data

run: data
	$(PY) -m mnist_helpers.data --summary --offline
	$(PY) -m mnist_helpers.course run $(NB_PARAMS)

notebooks: data
	$(PY) -m mnist_helpers.course notebooks
	$(PY) tools/update_guide.py --update docs/teaching.md

guide: $(STAMP)
	$(PY) tools/update_guide.py --update docs/teaching.md

student instructor: $(STAMP)
	$(PY) -m mnist_helpers.editions $@

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The browser tests need Debian's Chromium too (`sudo apt-get install -y chromium`; .ci/run
# installs it): without it they skip, saying so, except under CI, where they fail.
test: data lint $(WEB_STAMP)
	$(PY) -m pytest

# The committed notebooks' outputs as a website, checked (links, images, no CDN): opens offline.
site: $(WEB_STAMP)
	$(PY) tools/build_site.py

# For a class: draw a digit, watch the model guess (runs/default's model, or MODEL=...).
app: $(STAMP)
	$(PY) -m mnist_helpers.app $(if $(MODEL),--model $(MODEL))

# Unit tests only: no notebook, no real data (about a minute).
test-fast: $(STAMP)
	$(PY) -m pytest tests -m "not notebooks and not real_data and not slow"

lock:
	uv pip compile requirements.txt --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --quiet -o requirements.lock
	uv pip compile requirements-web.txt --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" --quiet -o requirements-web.lock

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

# Removes what can be rebuilt; your trained models in runs/ stay (delete them yourself).
clean:
	rm -rf $(VENV) dist .pytest_cache .ruff_cache site/_build screenshots
