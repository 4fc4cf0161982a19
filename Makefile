# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv when it is missing and install fastfeed (editable) into it.

PYTHON ?= python3
VENV ?= .venv
# `cpu` installs tensorflow-cpu (Linux); use TF_EXTRA=tensorflow elsewhere or for a GPU.
TF_EXTRA ?= cpu
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(TF_EXTRA)

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test clean

install: $(STAMP)

# PYTHONWARNINGS: setuptools warns on every editable install of a flat layout
# ("Editable installation... be careful with folders named like the package"): noise
# for a newcomer, not a problem here.
$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	PYTHONWARNINGS=ignore::UserWarning $(PY) -m pip install -q -e ".[$(TF_EXTRA),test]"
	touch $@

# Offline, in about a minute: builds the lfw_pairs dataset and verifies every split
# (../shared/data/lfw when it is there, else the tiny fake LFW shipped with the
# builder), writes a preview grid of procedural product composites with their masks
# outlined, races the composite stream against its NumPy/PIL reference briefly, and
# runs a seconds-long smoke training of the LFW reference model under View 1.
DEMO_LFW ?= $(firstword $(wildcard ../shared/data/lfw) fastfeed/tfds_builders/lfw_pairs/dummy_data)
demo: $(STAMP)
	$(VENV)/bin/fastfeed build lfw_pairs --config deepfunneled \
	    --manual-dir $(DEMO_LFW) --data-dir demo_out/tensorflow_datasets
	$(VENV)/bin/fastfeed preview composites --count 12 --out demo_out/composites.png
	$(VENV)/bin/fastfeed bench composites --procedural-only --seconds 2 --rounds 1
	$(VENV)/bin/fastfeed train --task lfw --smoke --lfw $(DEMO_LFW) --run-dir demo_out/train_smoke

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) demo_out .pytest_cache
