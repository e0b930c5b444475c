# Thin wrappers; the work is in infra/bootstrap.sh and the devstack package.
SHELL := /bin/bash
export PATH := $(HOME)/.local/bin:$(PATH)
UV_RUN := uv run --frozen

.PHONY: bootstrap up down status test lint audit format

bootstrap:  ## install what is missing: uv, the locked venv, redis-server, PostgreSQL 15
	@infra/bootstrap.sh

up: bootstrap  ## start the whole stack natively (Redis Cluster, PostgreSQL, migrations, services)
	@$(UV_RUN) devstack up

down:  ## stop everything `make up` started
	@$(UV_RUN) devstack down

status:  ## what is running (exit 3 when the stack is down)
	@$(UV_RUN) devstack status

test: bootstrap  ## the layering contracts, then every test against real servers on free ports
	@$(UV_RUN) lint-imports --no-cache
	@$(UV_RUN) pytest

lint: bootstrap  ## ruff, mypy (strict), the import-layering contracts, a dependency audit
	@$(UV_RUN) ruff check .
	@$(UV_RUN) lint-imports --no-cache
	@$(UV_RUN) mypy shared/src gateway/src auth-service/src user-service/src devstack/src
	@$(MAKE) --no-print-directory audit

# --strict: a dependency that could not be checked fails the audit instead of passing
# silently (on machines that reach only package mirrors, the vulnerability data is not there).
audit:  ## known-vulnerability audit of the locked environment (pip-audit)
	@$(UV_RUN) pip-audit --strict --progress-spinner off --skip-editable

format:
	@$(UV_RUN) ruff check --fix .

.PHONY: test-compose
test-compose: bootstrap  ## build the images, run tests/e2e against deploy/compose.yml (podman), tear down
	@infra/ci/test-compose.sh

.PHONY: soak
soak: bootstrap  ## long run under mixed traffic and rotating faults (SOAK_MINUTES, default 10)
	@$(UV_RUN) pytest tests/soak -s -p no:cacheprovider --timeout=0

.PHONY: bench
bench:  ## benchmark harness (bench/, docs/performance.md); BENCH_QUICK=1 for short runs
	@EXTRA_DEBS="wrk nginx" infra/bootstrap.sh
	@$(UV_RUN) python -m bench
