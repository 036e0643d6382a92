# Roadie's commands: `make run` serves the web chat, `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP_INSTALL := $(PY) -m pip install --no-deps --disable-pip-version-check -q

.PHONY: run test install install-dev lint typecheck eval bench lock chromium clean stack stack-stop

# scripts/install.sh is also what the Dockerfile runs, so the image installs exactly what `make run` does.
$(VENV)/.installed: requirements.lock
	PYTHON=$(PYTHON) scripts/install.sh $(VENV) requirements.lock
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.lock
	PYTHON=$(PYTHON) scripts/install.sh $(VENV) requirements-dev.lock
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	$(PY) main.py serve

# PostgreSQL + Redis where they already run, a chromadb server, 2 workers on :8000 and the scheduler (no Docker).
stack: install
	$(PY) -m assistant.stack start

stack-stop:
	$(PY) -m assistant.stack stop

chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	  || echo "chromium could not be installed: the browser test will skip"

test: install-dev chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q

lint: install-dev
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

typecheck: install-dev
	$(VENV)/bin/mypy

eval: install
	$(PY) main.py eval

bench: install
	$(PY) bench/turn_latency.py

lock:
	scripts/lock.sh

clean:
	rm -rf $(VENV)
