# forewarn: every target works from a fresh clone. It creates .venv, installs Python and npm
# dependencies, starts what it needs (Azurite on free loopback ports) and stops it after.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp

.PHONY: help install browser lint test test-fast serve demo bench clean

include infra/checks.mk

help:
	@echo "make demo   - run a real sample maintenance alert through everything, show each channel"
	@echo "make test   - lint, type-check and the whole test suite (what CI runs)"
	@echo "make serve  - host the Functions app on 127.0.0.1:7071 with Azurite"
	@echo "make lint   - ruff, mypy and the import layers (docs/architecture.md)"
	@echo "make bench  - benchmarks; each prints its figures and ratios"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP) $(NODE_STAMP)

# The preview-page test drives headless Chromium (Debian's package; it downloads nothing
# itself). Installed with apt-get when we may (root), else one line says what to install.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing chromium (apt-get) for the browser test"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else \
	    echo "make test needs Chromium for the browser test: install it (Debian/Ubuntu: sudo apt-get install chromium), then run make test again" >&2; \
	    exit 1; \
	  fi; }

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m tests.support.layers

test: install browser lint infra-check
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -x -q -m "not integration and not browser"

serve: install
	test -f local.settings.json || cp local.settings.example.json local.settings.json
	$(PY) -m shared.cli serve --with-azurite $(SERVE_ARGS)

demo: install
	$(PY) -m shared.cli demo

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) .venv-infra node_modules .mypy_cache .ruff_cache .hypothesis demo-output

# The Scheduled Events forwarder's release archive, its sha256 and a filled-in cloud-init
# snippet, in dist/ (docs/operations.md, "Scheduled Events"). FORWARDER_URL: where VMs will
# download the archive from (optional; filled into the snippet).
.PHONY: forwarder-dist
forwarder-dist: $(STAMP)
	$(PY) -m forwarder.release --out dist $(if $(FORWARDER_URL),--url '$(FORWARDER_URL)')
