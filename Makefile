# Two commands from a fresh clone: `make demo` opens the demo, `make test` runs the whole test suite (what CI
# runs). Each creates the environment (.venv) on first use, with torch's CPU build where there is no NVIDIA
# GPU (a plain `pip install torch` would download the multi-GB CUDA build), and with the cuda extra
# (torchvision, for GPU JPEG decode) where there is one.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes)
CPU_INDEX := https://download.pytorch.org/whl/cpu
# PyTorch's CPU index where there is no GPU and it can be reached; else the configured index (a mirror or
# wheelhouse: it decides which build torch==2.13.0 is)
CPU_INDEX_UP = $(shell $(PYTHON) -c "import urllib.request as u; u.urlopen('$(CPU_INDEX)/', timeout=5)" \
                 >/dev/null 2>&1 && echo yes)
TORCH_INDEX ?= $(if $(GPU),,$(if $(CPU_INDEX_UP),--index-url $(CPU_INDEX)))
EXTRAS ?= $(if $(GPU),dev$(,)cuda,dev)
, := ,
STAMP := $(VENV)/.installed

.PHONY: demo test env clean-env

demo: $(STAMP)
	$(VENV)/bin/clipgit-tui demo

test: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/check.sh
	$(VENV)/bin/python -m pytest -n 2 --dist loadfile --durations=20

env: $(STAMP)

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q $(TORCH) $(TORCH_INDEX)
	$(VENV)/bin/python -m pip install -q -e ".[$(EXTRAS)]"
	touch $(STAMP)

clean-env:
	rm -rf $(VENV)
