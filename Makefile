# Everything installs itself: `make demo` and `make test` work on a fresh Debian 12 machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT_STAMP := .apt-installed
APT_PACKAGES := strace busybox-static libyaml-dev python3.11 binutils zstd ca-certificates ncurses-base ncurses-term pypy3 desktop-file-utils python3-tk xvfb fonts-dejavu-core wine wine64 qemu-user-static binfmt-support osslsigncode openssl chromium
PYTEST_ARGS ?=

STUB_RECORD := bundler/_stubs/stubs.json

.PHONY: demo test apt venv clean bench stubs dist

$(APT_STAMP): Makefile
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@touch $@

apt: $(APT_STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

venv: $(STAMP)

# The prebuilt stubs of a checkout (a wheel builds its own: setup.py); rebuilt when stubs/ changes.
# every file under stubs/ counts (bundler.output.stubbuild.source_digest), its README too
$(STUB_RECORD): $(STAMP) bundler/output/stubbuild.py bundler/platforms.py $(shell find stubs -type f)
	$(PY) -m bundler.output.stubbuild bundler/_stubs

stubs: $(STUB_RECORD)

# The wheel (with every target's stub) and the sdist, in dist/
dist: $(STAMP)
	rm -rf dist
	$(PY) -m build --outdir dist .

demo: $(APT_STAMP) $(STAMP) $(STUB_RECORD)
	rm -rf examples/hello/dist
	$(VENV)/bin/bundler build examples/hello
	$(VENV)/bin/bundler inspect examples/hello/dist/hello-1.0.0-linux-x86_64
	examples/hello/dist/hello-1.0.0-linux-x86_64 --name "fresh machine"

test: $(APT_STAMP) $(STAMP) $(STUB_RECORD)
	$(PY) -m pytest $(PYTEST_ARGS)

# bundler vs PyInstaller on examples/hello and examples/numpy (docs/benchmarks.md); BENCH_ARGS=--quick to try it
bench: $(APT_STAMP) $(STAMP) $(STUB_RECORD)
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(APT_STAMP) examples/*/dist build dist *.egg-info bundler/_stubs
