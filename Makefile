# The two set-up commands of the README. Both create/reuse .venv first.
.PHONY: quickstart test env
env:
	@bash scripts/setup-env.sh

quickstart: env
	.venv/bin/springboard quickstart

test: env
	.venv/bin/python -m pytest -m "slow or not slow" -q
