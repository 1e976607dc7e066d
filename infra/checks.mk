# Static checks of infra/ (Bicep): checkov, offline. Included from the Makefile.
#
# checkov lives in a virtual environment of its own (.venv-infra), made from
# requirements-infra.txt: its dependencies would otherwise conflict with the app's pins.
# Every skipped check is suppressed inline next to its resource (`//checkov:skip=ID: reason`),
# so the reason sits beside the code it excuses and shows in checkov's report.

INFRA_VENV ?= .venv-infra
INFRA_PYTHON ?= python3
INFRA_DIR ?= infra

$(INFRA_VENV)/.installed: requirements-infra.txt
	test -x $(INFRA_VENV)/bin/python || $(INFRA_PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-infra.txt
	touch $@

.PHONY: infra-check
infra-check: $(INFRA_VENV)/.installed
	@# checkov's own (older) pycep must read every file, or checkov would quietly skip it.
	$(INFRA_VENV)/bin/python -c 'import pathlib, pycep; parser = pycep.BicepParser(); [parser.parse(file_path=f) for f in sorted(pathlib.Path("$(INFRA_DIR)").rglob("*.bicep"))]'
	$(INFRA_VENV)/bin/checkov --skip-download --quiet --compact --framework bicep -d $(INFRA_DIR)
