# labstack: `make run`, `make test`, `make build-<image>`, `make test-<image>`, `make bench`, `make stress`, `make clean`.
# `make run` and `make test` install what is missing first (scripts/install-deps), on a machine that has nothing.
PYTHON ?= python3
BUILD := $(PYTHON) build.py
IMAGES := $(shell $(PYTHON) -c 'import tomllib,glob,os; print(" ".join(tomllib.load(open(p,"rb")).get("name", os.path.basename(os.path.dirname(p))) for p in sorted(glob.glob("images/*/image.toml")) if not tomllib.load(open(p,"rb")).get("migration")))')
IMAGE ?= code-server

.PHONY: help dockerd list run test bench stress clean lock build-mig test-mig $(addprefix build-,$(IMAGES)) $(addprefix test-,$(IMAGES))

help:
	@echo "make run             install what is missing, build $(IMAGE) and serve it on 127.0.0.1:8888 (IMAGE=rstudio ...)"
	@echo "make build-<image>   build one image and its parents ($(IMAGES))"
	@echo "make test            unit tests, then build and probe every image (the README's test command)"
	@echo "make test-<image>    build and probe one image"
	@echo "make build-mig CONTAINER=<name> [MIG_TAG=<image:tag>]  migrate a running code-server container"
	@echo "make bench           cold/warm build times, sizes, start-to-first-200 (writes reports/)"
	@echo "make stress          the browser and hub tests, round after round beside two CPU burners (reports/stress-*.md)"
	@echo "make lock            resolve the Jupyter environment afresh into images/base/install/jupyter-lock.txt"
	@echo "make clean           remove labstack's containers and images"

dockerd:
	@scripts/start-dockerd

list:
	@$(BUILD) list

$(addprefix build-,$(IMAGES)): build-%: dockerd
	$(BUILD) build $*

run:
	@scripts/install-deps run
	@scripts/start-dockerd
	$(BUILD) run $(IMAGE)

# Unit tests first (seconds), then every image built once with one set of settings and probed:
# `build.py test all` hands pytest the images (--image NAME=REF) and its settings. A second engine
# (Docker 26 + buildx, scripts/start-engine26) beside the host's takes the bake, remote-engine and
# repo2docker tests (images/base/tests/test_beyond_one_machine.py).
test:
	@scripts/install-deps test
	@scripts/start-dockerd
	@scripts/start-engine26 || echo "make: no Docker 26 engine beside this one: the bake, remote-engine and repo2docker tests will skip"
	$(PYTHON) -m pytest tests/unit
	$(BUILD) test all --tag smoke

$(addprefix test-,$(IMAGES)): test-%: dockerd
	$(BUILD) test $*

bench: dockerd
	$(PYTHON) tests/bench.py

# What fails only under load: the browser and hub tests, STRESS_ROUNDS times (3), beside two CPU burners,
# for at most STRESS_MINUTES (55). Not in CI. STRESS_ARGS narrows it (pytest's -k, a module's path).
stress: dockerd
	@scripts/start-engine26 || echo "make: no Docker 26 engine beside this one: the bake tests will skip"
	$(PYTHON) tests/stress.py $(STRESS_ARGS)

# The Jupyter environment's lock, from a fresh resolve of every layer's [jupyter_packages] pins on each
# Debian suite's Python; commit the result (tests/unit/test_lock.py checks it against the pins).
lock: dockerd
	$(BUILD) lock

test-mig: dockerd
	$(BUILD) test mig

build-mig: dockerd
	@test -n "$(CONTAINER)" || { echo "usage: make build-mig CONTAINER=<name or id> [MIG_TAG=<image:tag>]" >&2; exit 2; }
	$(BUILD) migrate --container $(CONTAINER) $(if $(MIG_TAG),--image $(MIG_TAG))

clean: dockerd
	@scripts/stop-engine26 --purge
	$(PYTHON) -m labstack.clean
