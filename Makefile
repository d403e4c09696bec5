# hetero-cluster — the two commands a user needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp is rewritten whenever pyproject.toml changes, so the venv follows the dependencies.
STAMP := $(VENV)/.installed-stamp

.PHONY: help venv lint test test-unit demo

help:
	@echo "make demo   - provision this machine as a small cluster and train to the end (inventory/local.yml)"
	@echo "make test   - set everything up and run the whole test suite, lab end-to-end tests included"

# torch 2.14.1 + torchvision 0.29.1 is the pair whose torchvision imports on this kind of machine;
# installing them first keeps pip from picking another torch for `-e .[dev]`.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

venv: $(STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-unit: venv
	$(BIN)/pytest tests/unit

test: venv
	$(BIN)/ruff check .
	$(BIN)/pytest tests

# --- The trainer image (CPU variant, built offline from a wheelhouse; see Dockerfile) ---
TRAINER_TORCH ?= torch==2.13.0
IMAGE_CPU ?= hetero-trainer:cpu
BASE_CPU ?= hetero-base:bookworm

.PHONY: wheelhouse image
# pip finds the CPU torch wheel on this machine's disk and its small dependencies on the package index.
build/wheelhouse/.stamp: Makefile
	mkdir -p build/wheelhouse
	$(PYTHON) -m pip download --quiet --dest build/wheelhouse --python-version 3.11 --only-binary=:all: $(TRAINER_TORCH)
	touch $@

wheelhouse: build/wheelhouse/.stamp

image: wheelhouse
	docker build --build-arg BASE_IMAGE=$(BASE_CPU) --build-arg TORCH_SPEC=$(TRAINER_TORCH) -t $(IMAGE_CPU) .
