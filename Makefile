# Jota's developer entry points. `make test` and `make demo` work on a fresh
# Debian/Ubuntu machine as root: they install what is missing first.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
PROTO_OUT := jota/api/gen

.PHONY: deps proto proto-check lint test unit integration e2e provisioning demo bench clean

deps:
	@bash hack/install-deps.sh

# Regenerate the gRPC code from proto/ (the generated files are committed).
proto: deps
	$(PY) -m grpc_tools.protoc -I$(PROTO_OUT)=proto/jota/v1 --python_out=. \
	  --grpc_python_out=. --pyi_out=. proto/jota/v1/resources.proto \
	  proto/jota/v1/streams.proto

# Fails when the committed generated code is not what proto/ produces.
proto-check: deps
	@bash hack/check-proto.sh

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy jota controlplane node
	$(VENV)/bin/lint-imports

unit: deps
	$(PYTEST) -q tests/unit

integration: deps
	$(PYTEST) -q tests/integration

e2e: deps
	$(PYTEST) -q tests/e2e

# deploy/'s scripts on three Debian containers booting systemd (deploy/README.md).
provisioning: deps
	$(PYTEST) -q tests/provisioning

# Everything CI runs: dependencies, freshness of generated code, lint, every test.
test: deps proto-check lint
	$(PYTEST) -q -p no:cacheprovider tests/unit tests/integration tests/e2e tests/provisioning

demo: deps
	@bash hack/demo.sh

bench: deps
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
