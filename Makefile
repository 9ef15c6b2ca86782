# The two commands of the README:
#   make run    create the environment, get data, run the pipeline, serve the MLflow UI and the API
#   make test   run every test
# DATA=path/or/url uses your own CSV; PORT sets the MLflow UI port (default 5000), API_PORT the API port (8000).

UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PORT ?= 5000
API_PORT ?= 8000

.PHONY: run test env system-deps pipeline ui benchmark clean

$(UV):
	python3 -m pip install --quiet --user "uv==$(UV_VERSION)" || python3 -m pip install --quiet "uv==$(UV_VERSION)"

env: $(UV)
	$(UV) sync --frozen

run: env
	UV=$(UV) DATA="$(DATA)" PORT=$(PORT) API_PORT=$(API_PORT) bash scripts/run.sh

test: env
	$(UV) run --frozen pytest

# Debian's prometheus (prometheus + promtool), which the Prometheus config tests start and run.
system-deps:
	@command -v promtool >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }

benchmark: env
	$(UV) run --frozen python benchmarks/train.py
	$(UV) run --frozen python benchmarks/serve.py
	$(UV) run --frozen python benchmarks/monitor.py

clean:
	rm -rf mlflow.db mlartifacts .churnops predictions.db predictions.db-wal predictions.db-shm mlflow-ui.log
