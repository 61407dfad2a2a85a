# StreamVoiceAnon+ companion. The two commands: `make paper` and `make test`.
SCALE ?= mini
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := $(CURDIR)/.venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT_PACKAGES := flite sox festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts espeak-ng chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PYTHONHASHSEED := 0

.PHONY: help install system-deps data pipeline models real-speech notebooks paper test bench clean-cache lint-notebooks

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' Makefile | sed 's/:.*##/\t/'

system-deps:  ## Debian packages (TTS voices, chromium for the demo-page test); no-op when present
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; fi

$(STAMP): pyproject.toml
	$(MAKE) system-deps
	@# torch 2.9.1 from PyPI is a CUDA build: the venv takes ~8.5 GB; fail early with a clear message
	@avail=$$(df -Pk $(CURDIR) | awk 'NR==2 {print int($$4 / 1048576)}'); [ -x $(PY) ] || [ $$avail -ge 10 ] || \
	  { echo "make install: $(CURDIR) has $$avail GB free; the venv needs ~10 GB (torch's CUDA wheels)"; exit 1; }
	[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24" 2>&1 | grep -v "^WARNING: Location" || true
	@# no wheel cache: on a fresh machine it would add ~3 GB of torch/nvidia wheels beside the venv
	$(PY) -m pip install -q --no-cache-dir -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
	$(PY) -c "import paperlib, torch, torchaudio, speechbrain, pyworld, faster_whisper, opensmile"
	$(PY) -m ipykernel install --sys-prefix --name paperlib --display-name "paperlib (.venv)" >/dev/null
	touch $(STAMP)

install: system-deps $(STAMP)  ## project venv + Debian packages (installing twice is a no-op)

data: install  ## generate MiniVPC for SCALE (skips finished files)
	$(PY) -m paperlib.data generate --scale $(SCALE)

pipeline: data  ## train / evaluate every stage for SCALE (cached by config hash)
	$(PY) -m paperlib.pipeline --scale $(SCALE)

notebooks: install  ## execute every notebook headless with papermill into figures/
	$(PY) -m paperlib.notebooks --scale $(SCALE)

models: pipeline  ## export the trained anonymizer bundle models/SCALE/ (what the CLI loads without a cache)
	$(PY) -m paperlib.bundle export --scale $(SCALE)

real-speech: models  ## the shipped bundle on held-out real speech (data/real/) -> figures/real_speech.{json,md}
	$(PY) -m paperlib.real_speech --scale $(SCALE)

paper: pipeline models real-speech notebooks bench  ## everything: data, models, tables, figures, bundle, real-speech section, notebooks, demo page, benchmarks, README results
	$(PY) -m paperlib.tables --readme --scale $(SCALE)

test: install  ## smoke-scale tests incl. one papermill run of every notebook (< 10 min on 2 cores)
	$(PY) -m pytest -x --durations=15 tests

bench: install  ## latency / RTF benchmarks -> benchmarks/
	$(PY) -m paperlib.bench --scale $(SCALE)

clean-cache:  ## remove trained models and results for SCALE (data is kept)
	rm -rf cache/$(SCALE)
