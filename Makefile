# Two commands do all the set-up (see README):
#   make book   create .venv, install the pinned requirements, execute every chapter with papermill,
#               build the HTML book into _build/html
#   make test   the same environment; check the package's layers (lint-imports, contracts in pyproject.toml);
#               execute every chapter at the CI (smoke-test) budget into
#               _build/ci, build that book (HTML in _build/ci/_build/html) with warnings as errors, then
#               run the unit tests (with the optional Ray extra, requirements-ray.txt, installed), nbval on
#               the executed notebooks, and the browser test (screenshots in _build/screenshots)
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
# Data: ../shared/data when it exists, unless AEVB_DATA_DIR is already set (see aevb/data.py)
ifeq ($(origin AEVB_DATA_DIR), undefined)
ifneq ($(wildcard ../shared/data),)
export AEVB_DATA_DIR := $(abspath ../shared/data)
endif
endif
export PYDEVD_DISABLE_FILE_VALIDATION := 1

CHAPTERS := $(sort $(wildcard chapters/*.ipynb))
BOOK_FILES := _config.yml _toc.yml intro.md rerun.md status.md api.md bibliography.md references.bib
MATHJAX := $(VENV)/mathjax-3.2.2
BUILD ?= _build
HTML_OUT ?= .
PARAMS ?=

.PHONY: venv ray book execute html test clean browser-deps

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -c "import matplotlib.pyplot"  # build the font cache once, outside the notebooks
	touch $@

# The optional Ray extra (the ray executor of the experiment runner); the tests use it
ray: $(VENV)/.ray-installed
$(VENV)/.ray-installed: requirements-ray.txt $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -r requirements-ray.txt
	touch $@

# MathJax 3 served with the book (no CDN needed to read it offline or to test it), from the npm registry
$(MATHJAX)/tex-mml-chtml.js:
	rm -rf $(MATHJAX) && mkdir -p $(MATHJAX)
	cd $(MATHJAX) && npm pack mathjax@3.2.2 --silent >/dev/null && \
	  tar xzf mathjax-3.2.2.tgz --strip-components=2 package/es5 && rm mathjax-3.2.2.tgz

# Headless Chromium and its driver for the browser test (Debian packages), installed where missing
browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  echo "installing Debian packages chromium and chromium-driver"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

# Execute every chapter with papermill into $(BUILD)/executed (all of them, then fail if any failed)
execute: venv $(MATHJAX)/tex-mml-chtml.js
	rm -rf $(BUILD)/executed && mkdir -p $(BUILD)/executed/chapters $(BUILD)/executed/_extra
	cp $(BOOK_FILES) $(BUILD)/executed/
	cp -r $(MATHJAX) $(BUILD)/executed/_extra/mathjax  # copied as is to html/mathjax (html_extra_path)
	@failed=(); for nb in $(CHAPTERS); do \
	  echo "== executing $$nb $(PARAMS)"; start=$$(date +%s); \
	  papermill "$$nb" "$(BUILD)/executed/$$nb" --cwd $(BUILD)/executed/chapters --no-progress-bar \
	    --kernel python3 $(PARAMS) 2> >(grep -v "Kernel is running over TCP" >&2) \
	    || failed+=("$$nb"); echo "   $$(( $$(date +%s) - start )) s"; \
	done; \
	if (( $${#failed[@]} )); then echo "chapters that failed: $${failed[*]}"; exit 1; fi

# Build the HTML from the executed notebooks (no second execution), warnings as errors
html: venv
	jupyter-book build $(BUILD)/executed --path-output $(HTML_OUT) -W -n --keep-going

book:
	$(MAKE) execute html BUILD=_build

test: venv ray browser-deps
	lint-imports
	$(MAKE) execute html BUILD=_build/ci HTML_OUT=_build/ci PARAMS="-p smoke_test True"
	AEVB_EXECUTED_DIR=$(CURDIR)/_build/ci/executed/chapters AEVB_BOOK_HTML=$(CURDIR)/_build/ci/_build/html \
	  AEVB_SCREENSHOT_DIR=$(CURDIR)/_build/screenshots \
	  pytest tests _build/ci/executed/chapters --nbval-lax --nbval-kernel-name python3

clean:
	rm -rf _build runs chapters/runs
