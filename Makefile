# otter2: `make run` sets up .venv and starts the daemon; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
MIMIC_VENV ?= .venv-mimic
ARGS ?=

.PHONY: install run test check bench clean

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

$(MIMIC_VENV)/.installed: scripts/setup-mimic
	MIMIC_VENV=$(MIMIC_VENV) PYTHON=$(PYTHON) scripts/setup-mimic
	touch $@

run: install
	$(VENV)/bin/twistd -n --pidfile= otter2 $(ARGS)

test: install $(MIMIC_VENV)/.installed
	scripts/install-zookeeper
	VENV=$(VENV) MIMIC_VENV=$(MIMIC_VENV) scripts/run-tests

check: install
	$(VENV)/bin/mypy
	$(VENV)/bin/ruff check otter2 tests twisted

clean:
	rm -rf $(VENV) $(MIMIC_VENV) _trial_temp* otter2.egg-info

bench: install
	$(VENV)/bin/python -m otter2.bench --json bench.json
