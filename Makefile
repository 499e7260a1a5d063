# Two commands on a fresh Debian machine, as root: `make demo` and `make test`.
# Each installs what is missing (apt-get; safetensors and pyautoattack for the tests into .venv) and then runs.
SWIFT ?= swift
EDLCM_TEST_PYTHON ?= $(CURDIR)/.venv/bin/python
export EDLCM_TEST_PYTHON

TORCH2_VERSION ?= 2.15.0
TORCH2 = PATH="$(CURDIR)/.venv-torch2/bin:$$PATH" LIBTORCH_USE_PYTORCH=1

.PHONY: demo test test-torch2 dist test-dist build bootstrap bootstrap-test format lint clean

bootstrap:
	@./scripts/bootstrap.sh

bootstrap-test:
	@./scripts/bootstrap.sh --test

build: bootstrap
	$(SWIFT) build -c release --product edlcm

demo: build
	./scripts/demo.sh

# The suite runs as two processes side by side (scripts/test.sh): the command-line tests in
# parallel with each other, the library tests one at a time.
test: bootstrap-test lint
	$(SWIFT) build --build-tests
	./scripts/test.sh

# The same suite on PyPI's libtorch 2.x (torch==$(TORCH2_VERSION) in .venv-torch2, built in
# .build-torch2 beside the default build). CI runs `make test` only.
test-torch2: bootstrap-test lint
	./scripts/pytorch-venv.sh .venv-torch2 $(TORCH2_VERSION)
	$(TORCH2) $(SWIFT) build --scratch-path .build-torch2 --build-tests
	$(TORCH2) ./scripts/test.sh .build-torch2

# A self-contained edlcm for machines with PyTorch but no Swift (scripts/dist.sh), built against
# TORCH_DIR (a PyTorch's torch/ folder), by default the torch==$(TORCH2_VERSION) of .venv-torch2
# (`make dist TORCH2_VERSION=2.11.0` for a machine with PyTorch 2.11).
TORCH_DIR ?=
dist: bootstrap
ifeq ($(TORCH_DIR),)
	./scripts/pytorch-venv.sh .venv-torch2 $(TORCH2_VERSION)
	$(TORCH2) ./scripts/dist.sh
else
	./scripts/dist.sh $(TORCH_DIR)
endif

# The bundle of `make dist` (against .venv-torch2) started and used on this CPU machine.
test-dist: dist bootstrap-test
	$(SWIFT) build --build-tests
	EDLCM_DIST_BUNDLE=$$(ls -d $(CURDIR)/dist/edlcm-*-torch*-linux-*[!z] | tail -1) \
	EDLCM_DIST_TORCH=$$(.venv-torch2/bin/python -c "import importlib.util as u; print(u.find_spec('torch').submodule_search_locations[0])") \
	$(SWIFT) test --skip-build --filter DistBundleTests

# One style for the whole tree (.swift-format: 4 spaces, 130 columns); `make test` fails on a file
# that `make format` would change.
format:
	$(SWIFT) format format --in-place --recursive --parallel Sources Tests Package.swift

lint:
	$(SWIFT) format lint --strict --recursive --parallel Sources Tests Package.swift

clean:
	rm -rf .build .build-torch2 .build-dist .venv .venv-torch2 dist
