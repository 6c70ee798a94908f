# Two commands do all the set-up (see README):
#   make book   create .venv, install the pinned requirements, execute every chapter with papermill
#               (reusing those whose notebook, imported package code, store and parameters are unchanged:
#               aevb/book/cache.py), build the HTML book into _build/html (incrementally)
#   make chapter CH=04 PARAMS="-p n_z 10"   one chapter with other parameters, in the book
#   make pdf    the book as one PDF, _build/aevb-companion.pdf (Chromium prints the single-page HTML)
#   make test   the same environment; check the package's layers (lint-imports, contracts in pyproject.toml)
#               and its code's style (ruff check, [tool.ruff] in pyproject.toml);
#               execute every chapter at the CI (smoke-test) budget into
#               _build/ci, build that book (HTML in _build/ci/_build/html) with warnings as errors, execute the
#               chapters that check the store once more with ATEN_CPU_CAPABILITY=default (another CPU's
#               rounding) into _build/ci-default, then
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
STORE_CHAPTERS := $(shell grep -lE "check_store|check_stream" $(CHAPTERS))  # the chapters that re-train a prefix of the store
BOOK_FILES := _config.yml _toc.yml intro.md reading.md rerun.md status.md build.md api.md bibliography.md references.bib
MATHJAX := $(VENV)/mathjax-3.2.2
BUILD ?= _build
HTML_OUT ?= .
PARAMS ?=

.PHONY: venv ray book chapter execute html test clean browser-deps pdf

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
# Where they cannot be installed (no apt-get, as on macOS, or not root) it says so and goes on: the browser test
# and make pdf then skip with that message (CI, on Debian as root, always has them)
browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages chromium and chromium-driver"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "NOTE: Debian's chromium and chromium-driver are missing and cannot be installed here (they need apt-get" \
	         "and root): the browser test will be skipped; everything else runs"; \
	  fi; }

# Execute the chapters with papermill into $(BUILD)/executed (aevb/book/execute.py): each chapter whose
# execution key (aevb/book/cache.py: the notebook, the package code it imports, requirements.txt, the
# results store where it reads it, and PARAMS) differs from the key saved at its last execution, JOBS at
# once, each in a fresh working directory; the others are reused. CH=04 gives PARAMS to that chapter only.
JOBS ?= 2
execute: venv $(MATHJAX)/tex-mml-chtml.js
	mkdir -p $(BUILD)/executed/_extra
	cp -p $(BOOK_FILES) $(BUILD)/executed/  # -p: an unchanged page keeps its time, so Sphinx does not reread it
	cp -rp _static $(BUILD)/executed/  # the book's CSS
	test -d $(BUILD)/executed/_extra/mathjax || cp -r $(MATHJAX) $(BUILD)/executed/_extra/mathjax
	python -m aevb.book.execute --out $(BUILD)/executed --params '$(PARAMS)' --chapter '$(CH)' --jobs $(JOBS) \
	  $(CHAPTERS)

# Build the HTML from the executed notebooks (no second execution), warnings as errors
html: venv
	jupyter-book build $(BUILD)/executed --path-output $(HTML_OUT) -W -n --keep-going

book:
	$(MAKE) execute html BUILD=_build

# One chapter again with other parameters, in the book: make chapter CH=04 PARAMS="-p n_z 10"
# (the other chapters are reused, or executed once if they never were; the HTML is rebuilt incrementally)
chapter:
	@test -n "$(CH)" || { echo 'make chapter: give the chapter number, e.g. make chapter CH=04 PARAMS="-p n_z 10"'; exit 2; }
	@test -n "$(wildcard chapters/$(CH)_*.ipynb)" || { echo "make chapter: no chapters/$(CH)_*.ipynb"; exit 2; }
	$(MAKE) execute html BUILD=_build CH=$(CH) PARAMS='$(PARAMS)'

test: venv ray browser-deps
	lint-imports
	ruff check --no-cache aevb tests benchmarks
	time $(MAKE) execute BUILD=_build/ci PARAMS="-p smoke_test True"
	time $(MAKE) html BUILD=_build/ci HTML_OUT=_build/ci
	@echo "the chapters that check the store, once more on PyTorch's non-vectorized kernels (another CPU's rounding)"
	time ATEN_CPU_CAPABILITY=default python -m aevb.book.execute --out _build/ci-default \
	  --params "-p smoke_test True" --jobs $(JOBS) $(STORE_CHAPTERS)
	time AEVB_EXECUTED_DIR=$(CURDIR)/_build/ci/executed/chapters AEVB_BOOK_HTML=$(CURDIR)/_build/ci/_build/html \
	  AEVB_SCREENSHOT_DIR=$(CURDIR)/_build/screenshots \
	  pytest tests _build/ci/executed/chapters --nbval-lax --nbval-kernel-name python3 --durations=20

# The whole book as one PDF (A4, for reading groups), offline: the executed book (executed first where
# needed, as make book does) built as one page (singlehtml) and printed by headless Chromium
# (aevb/book/pdf.py) into $(BUILD)/aevb-companion.pdf
pdf: venv browser-deps
	$(MAKE) execute BUILD=$(BUILD)
	jupyter-book build $(BUILD)/executed --path-output $(BUILD)/executed --builder singlehtml -W -n --keep-going
	python -m aevb.book.pdf $(BUILD)/executed/_build/singlehtml/intro.html $(BUILD)/aevb-companion.pdf

clean:
	rm -rf _build runs chapters/runs
