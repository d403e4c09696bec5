# hetero-cluster — the two commands a user needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp is rewritten whenever pyproject.toml changes, so the venv follows the dependencies.
STAMP := $(VENV)/.installed-stamp

.PHONY: help venv lint test test-unit test-torch-min torch-min-run torch-min-venv demo

help:
	@echo "make demo   - provision this machine as a small cluster and train to the end (inventory/local.yml)"
	@echo "make test   - set everything up and run the whole test suite, lab end-to-end tests included"

# torch 2.14.1 + torchvision 0.29.1 is the pair whose torchvision imports on this kind of machine;
# installing them first keeps pip from picking another torch for `-e .[dev]`. The GPU image carries the
# same torch (GPU_TORCH, image-gpu below).
$(STAMP): pyproject.toml roles/image/defaults/main.yml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(GPU_TORCH) torchvision==0.29.1
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

venv: $(STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-unit: venv
	$(BIN)/pytest tests/unit

# The whole suite. The unit tests (on the tests' torch, then on the oldest torch) run beside the rest, in the
# background, meant to use the time the lab tests spend waiting on SSH, Docker and the laptops' CPU quotas
# (whether that pays is not yet shown: the two fresh CI runs of 2026-12-01 differed more between themselves
# than this could). Their output goes to build/test-unit.log and build/test-torch-min.log, whose last lines
# are printed at the end (all of a log whose tests failed).
test: venv torch-min-venv
	$(BIN)/ruff check .
	@mkdir -p build; rm -f build/test-unit.rc build/test-torch-min.rc; \
	( $(BIN)/pytest tests/unit -p no:cacheprovider -q --durations=10 --basetemp=build/pytest-unit \
	      > build/test-unit.log 2>&1; echo $$? > build/test-unit.rc; \
	  $(MAKE) --no-print-directory torch-min-run TORCH_MIN_ARGS="--basetemp=build/pytest-torch-min" \
	      > build/test-torch-min.log 2>&1; echo $$? > build/test-torch-min.rc ) & legs=$$!; \
	echo "the unit tests run beside this suite: build/test-unit.log, then build/test-torch-min.log"; \
	$(BIN)/pytest tests --ignore=tests/unit --durations=30; main=$$?; \
	wait $$legs; ok=$$main; \
	for leg in unit torch-min; do \
	    rc=$$(cat build/test-$$leg.rc 2>/dev/null || echo 1); echo "--- build/test-$$leg.log (exit $$rc) ---"; \
	    if [ "$$rc" = 0 ]; then tail -n 1 build/test-$$leg.log; else cat build/test-$$leg.log; ok=1; fi; \
	done; \
	test $$ok -eq 0

# The unit tests once more on the oldest torch the trainer supports (pyproject.toml's torch>=2.13, which the
# CPU image carries; the GPU image carries the tests' 2.14.1): a venv holding that torch alone, every other
# package from .venv through a .pth file. Tests marked torchvision stay with the main run: torchvision
# imports only beside the tests' torch on this kind of machine.
TORCH_MIN_VENV := .venv-torch-min
test-torch-min: torch-min-venv
	$(MAKE) --no-print-directory torch-min-run

torch-min-run:
	$(TORCH_MIN_VENV)/bin/python -m pytest tests/unit -m "not torchvision" -p no:cacheprovider -q $(TORCH_MIN_ARGS)

torch-min-venv: venv
	test -x $(TORCH_MIN_VENV)/bin/python || $(PYTHON) -m venv $(TORCH_MIN_VENV)
	$(TORCH_MIN_VENV)/bin/pip install --quiet --no-deps $(TRAINER_TORCH)
	site=$$($(TORCH_MIN_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') && \
	main=$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') && \
	echo "import site; site.addsitedir('$$main')" > $$site/zz-hetero-main-venv.pth
	$(TORCH_MIN_VENV)/bin/python -c 'import torch; print("the unit tests on torch", torch.__version__)'

# --- The trainer image (CPU variant, built offline from a wheelhouse; see Dockerfile) ---
# Each variant's torch is defined once, in roles/image/defaults/main.yml (what distribute builds); read here.
image_default = $(shell sed -n 's/^$(1): //p' roles/image/defaults/main.yml)
TRAINER_TORCH ?= $(call image_default,hetero_image_cpu_torch)
GPU_TORCH ?= $(call image_default,hetero_image_gpu_torch)
CPU_INDEX ?= $(call image_default,hetero_image_cpu_index)
GPU_INDEX ?= $(call image_default,hetero_image_gpu_index)
# Beside torch, as roles/image installs it (hetero_image_extra_requirements): same build args, same image id.
TRAINER_EXTRA ?= numpy
IMAGE_CPU ?= hetero-trainer:cpu
BASE_CPU ?= hetero-base:bookworm

.PHONY: wheelhouse image
# pip finds the CPU torch wheel on this machine's disk and its small dependencies on the package index.
build/wheelhouse/.stamp: Makefile
	mkdir -p build/wheelhouse
	$(PYTHON) -m pip download --quiet --dest build/wheelhouse --python-version 3.11 --only-binary=:all: $(TRAINER_TORCH) $(TRAINER_EXTRA)
	touch $@

wheelhouse: build/wheelhouse/.stamp

image: wheelhouse base-image
	docker build --build-arg BASE_IMAGE=$(BASE_CPU) --build-arg TORCH_SPEC=$(TRAINER_TORCH) \
	    --build-arg EXTRA_REQUIREMENTS="$(TRAINER_EXTRA)" --build-arg TORCH_INDEX_URL=$(CPU_INDEX) -t $(IMAGE_CPU) .

# --- The GPU variant: the tests' torch in its CUDA build (PyPI's Linux wheel, which brings the CUDA
# libraries as nvidia-* wheels; CUDA 13 needs an NVIDIA driver of 580 or newer on the host), on the same
# slim base. Its 3 GB of wheels get a build context of their own, so the CPU build never sends them.
IMAGE_GPU ?= hetero-trainer:gpu
GPU_CONTEXT := build/gpu-context
.PHONY: image-gpu
$(GPU_CONTEXT)/build/wheelhouse/.stamp: Makefile
	mkdir -p $(GPU_CONTEXT)/build/wheelhouse
	$(PYTHON) -m pip download --quiet --dest $(GPU_CONTEXT)/build/wheelhouse --python-version 3.11 --only-binary=:all: $(GPU_TORCH) $(TRAINER_EXTRA)
	touch $@

image-gpu: $(GPU_CONTEXT)/build/wheelhouse/.stamp base-image
	rsync -a --delete --exclude __pycache__ --exclude '*.pyc' hetero_train pyproject.toml $(GPU_CONTEXT)/
	docker build -f Dockerfile --build-arg BASE_IMAGE=$(BASE_CPU) --build-arg TORCH_SPEC=$(GPU_TORCH) \
	    --build-arg EXTRA_REQUIREMENTS="$(TRAINER_EXTRA)" --build-arg TORCH_INDEX_URL=$(GPU_INDEX) \
	    -t $(IMAGE_GPU) $(GPU_CONTEXT)

# --- The lab: N "laptops" on this machine (network + mount namespaces, own sshd and dockerd); see tests/lab ---
N ?= 3
LAB_CPUS ?= 1.0,0.6,0.4
LINKS ?=
.PHONY: lab-up lab-down lab-status base-image
lab-up:
	$(PYTHON) -m tests.lab up -n $(N) --cpus $(LAB_CPUS) --links "$(LINKS)"

lab-down:
	$(PYTHON) -m tests.lab down

lab-status:
	$(PYTHON) -m tests.lab status

# debootstrap + docker import; rebuilt only when its recipe (tests/lab/base_image.py) changes.
base-image:
	$(PYTHON) -m tests.lab base-image

# --- make demo: this machine as a 2-rank cluster (inventory/local.yml), from nothing to a trained model ---
# Each run trains a fresh experiment (a name with the time in it), so a second `make demo` trains again
# instead of resuming the finished one. Override: make demo DEMO_EXPERIMENT=mine
DEMO_INVENTORY ?= inventory/local.yml
ifndef DEMO_EXPERIMENT
DEMO_EXPERIMENT := demo-$(shell date -u +%Y%m%d-%H%M%S)
endif
DEMO_DATA_ROOT ?= /var/lib/hetero-cluster/experiments
.PHONY: demo
demo: venv base-image
	@start=$$(date +%s); \
	ANSIBLE_CONFIG=$(CURDIR)/ansible.cfg $(BIN)/ansible-playbook -i $(DEMO_INVENTORY) site.yml \
	    -e hetero_trainer_wait=true -e hetero_experiment_name=$(DEMO_EXPERIMENT) \
	&& $(BIN)/python -m hetero_train.report $(DEMO_DATA_ROOT)/$(DEMO_EXPERIMENT) \
	&& echo "make demo: trained $(DEMO_EXPERIMENT) in $$(( $$(date +%s) - start )) s (after venv and base image)"
