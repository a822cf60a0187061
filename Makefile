# Two entry points (see README): `make pipeline` and `make test`. Both set up .venv first.
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: setup pipeline test test-slow check-dvc contact-sheets
setup:
	bash scripts/setup.sh

pipeline: setup
	dvc repro

# the fast target (README, ~15 min from a clean clone): everything but the end-to-end DVC runs
test: setup
	python -m pytest -q -m "not slow"

# end-to-end: `dvc exp run -S profile=tiny` in fresh copies, documented commands without .venv/bin
# on PATH, one ablation with `dvc exp run -S` (CI runs it after `make test`)
test-slow: setup
	python -m pytest -q -m slow

# dvc.yaml lists the code each stage imports, and the committed dvc.lock is not stale
# (scripts/dvc_checks.py: a few seconds, no stage is run, no data needed)
check-dvc: setup
	python scripts/dvc_checks.py

contact-sheets: setup
	python -m evaluation.contact_sheets
