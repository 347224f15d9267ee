# Developer entry points. CI runs `make test` (through scripts/test.sh), which includes `make lint`.
CARGO ?= cargo
DOCS_DIR := docs/plugins

.PHONY: all build test lint fmt gen gen-plugins gen-docs

all: build

build:
	$(CARGO) build --workspace --all-targets

# Installs the test dependencies, checks lint and the generated files, runs every test.
test:
	bash scripts/test.sh

# Formatting, clippy without warnings, and generated files (plugins/all, plugin docs) up to date.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) xtask gen-plugins --check
	$(CARGO) run -q -p loong -- plugins --docs-dir $(DOCS_DIR) --check

fmt:
	$(CARGO) fmt --all

# Regenerates plugins/all from plugins.yml, then every plugin's page under docs/plugins.
gen: gen-plugins gen-docs

gen-plugins:
	$(CARGO) xtask gen-plugins

gen-docs: gen-plugins
	$(CARGO) run -q -p loong -- plugins --docs-dir $(DOCS_DIR)
