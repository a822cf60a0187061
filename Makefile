# Two entry points (see README): `make pipeline` and `make test`. Both set up .venv first.
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: setup pipeline test contact-sheets
setup:
	bash scripts/setup.sh

pipeline: setup
	dvc repro

test: setup
	python -m pytest -q

contact-sheets: setup
	python -m evaluation.contact_sheets
