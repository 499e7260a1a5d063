# Two commands on a fresh Debian machine, as root: `make demo` and `make test`.
# Each installs what is missing (apt-get; safetensors and pyautoattack for the tests into .venv) and then runs.
SWIFT ?= swift
EDLCM_TEST_PYTHON ?= $(CURDIR)/.venv/bin/python
export EDLCM_TEST_PYTHON

.PHONY: demo test build bootstrap bootstrap-test format lint clean

bootstrap:
	@./scripts/bootstrap.sh

bootstrap-test:
	@./scripts/bootstrap.sh --test

build: bootstrap
	$(SWIFT) build -c release --product edlcm

demo: build
	./scripts/demo.sh

test: bootstrap-test lint
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

# One style for the whole tree (.swift-format: 4 spaces, 130 columns); `make test` fails on a file
# that `make format` would change.
format:
	$(SWIFT) format format --in-place --recursive --parallel Sources Tests Package.swift

lint:
	$(SWIFT) format lint --strict --recursive --parallel Sources Tests Package.swift

clean:
	rm -rf .build .venv
