# Two entry points (see README): `make pipeline` and `make test`. Both set up .venv first.
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: setup pipeline test check-dvc contact-sheets
setup:
	bash scripts/setup.sh

pipeline: setup
	dvc repro

test: setup
	python -m pytest -q

# dvc.yaml lists the code each stage imports, and the committed dvc.lock is not stale
# (scripts/dvc_checks.py: a few seconds, no stage is run, no data needed)
check-dvc: setup
	python scripts/dvc_checks.py

contact-sheets: setup
	python -m evaluation.contact_sheets
