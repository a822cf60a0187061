# Two entry points (see README): `make pipeline` and `make test`. Both set up .venv first.
PROFILE ?= default
VENV := .venv/bin

.PHONY: setup pipeline test contact-sheets
setup:
	bash scripts/setup.sh

pipeline: setup
	$(VENV)/python -m stages.select_profile $(PROFILE)
	$(VENV)/dvc repro

test: setup
	$(VENV)/python -m pytest -q

contact-sheets: setup
	$(VENV)/python -m evaluation.contact_sheets
