# Two commands on a fresh Debian machine, as root: `make demo` and `make test`.
# Each installs what is missing (apt-get; safetensors for the tests into .venv) and then runs.
SWIFT ?= swift
EDLCM_TEST_PYTHON ?= $(CURDIR)/.venv/bin/python
export EDLCM_TEST_PYTHON

.PHONY: demo test build bootstrap bootstrap-test clean

bootstrap:
	@./scripts/bootstrap.sh

bootstrap-test:
	@./scripts/bootstrap.sh --test

build: bootstrap
	$(SWIFT) build -c release --product edlcm

demo: build
	./scripts/demo.sh

test: bootstrap-test
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

clean:
	rm -rf .build .venv
