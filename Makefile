# The two commands of the README: `make demo` (set up, then JupyterLab with kchat) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kchat-installed

.PHONY: demo setup test browser bench clean

demo: setup
	$(BIN)/python -m jupyter_kchat.demo $(ARGS)

setup: $(STAMP)

$(STAMP): pyproject.toml labextension/package.json labextension/yarn.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/jupyter server extension list 2>&1 | grep -q "jupyter_kchat.*enabled"
	$(BIN)/jupyter labextension list 2>&1 | grep -q "jupyter-kchat.*enabled"
	# configurable-http-proxy for the JupyterHub tests (5.2: 5.3 needs Node 22)
	npm install --prefix $(VENV)/chp --no-audit --no-fund --silent configurable-http-proxy@5.2.0
	touch $(STAMP)

# Browser tests drive Debian's Chromium (never a browser downloaded by a test tool).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

# The extension's own tests first (vitest, with the TypeScript types generated from the schema).
test: setup browser
	cd labextension && PATH="$(abspath $(BIN)):$$PATH" jlpm lint:check
	cd labextension && PATH="$(abspath $(BIN)):$$PATH" jlpm test
	$(BIN)/python -m pytest

bench: setup
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) labextension/node_modules labextension/lib jupyter_kchat/labextension jupyter_kchat/static/widget.js
