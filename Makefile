# riftdrill: `make drill` is the main job, `make test` the test suite. See README.md.
SHELL := /bin/bash
VENV := .riftdrill/venv
PY := $(VENV)/bin/python
RD := $(VENV)/bin/riftdrill
RATE ?= 500
DURATION ?= 30
SIZE ?= 1024
EXP ?=

# Only what you set: TARGET, ENGINE, TOPOLOGY, BROKERS, WAN, HUB_DELIVERY, SECURITY left out keep what is deployed (nothing
# deployed: a local stretched kafka lab, 2 brokers per cloud). A value that differs from the
# deployed lab is named, then the lab is torn down and deployed again as asked.
DEPLOY_ARGS := $(if $(TARGET),--target $(TARGET)) $(if $(ENGINE),--engine $(ENGINE)) \
	$(if $(TOPOLOGY),--topology $(TOPOLOGY)) $(if $(BROKERS),--brokers-per-cloud $(BROKERS)) \
	$(if $(WAN),--wan '$(WAN)') $(if $(HUB_DELIVERY),--hub-delivery $(HUB_DELIVERY)) \
	$(if $(SECURITY),--security $(SECURITY))

.PHONY: setup deploy destroy status heal drill drills soak load verify smoke test test-unit test-lab lint bench report figures experiments compare compat clean

setup:
	@bash scripts/setup.sh

deploy: setup
	$(RD) deploy $(DEPLOY_ARGS)

# Without TARGET: what the inventory names (aws-gcp asks for confirmation), else the local lab.
# YES=1: no confirmation (aws-gcp asks for one at a terminal; CI has none).
destroy: setup
	$(RD) destroy $(if $(TARGET),--target $(TARGET)) $(if $(YES),--yes)

status: setup
	$(RD) status

heal: setup
	$(RD) heal

smoke: setup
	$(RD) smoke

# The main job on a fresh machine: deploy the lab if needed, then drill it. A cloud target
# (TARGET=aws-gcp) is drilled as deployed: `make drill` never applies to a cloud.
drill: setup
	@bash scripts/drill.sh "$(EXP)" $(DEPLOY_ARGS)

drills: setup
	@bash scripts/drill.sh "" $(DEPLOY_ARGS)

# The soak drill: an hour of load with a fault every 15 s (SOAK_S, INTERVAL_S, KINDS, SEED to
# change it; TRACE_MEMORY=1 for the tracemalloc diagnostic; docs/drills.md "Soak"). Extra drill
# options as for `make drill`.
SOAK_ARGS := $(if $(SOAK_S),--var soak_s=$(SOAK_S) --var load_max_s=$$(( $(SOAK_S) + 300 ))) \
	$(if $(INTERVAL_S),--var interval_s=$(INTERVAL_S)) $(if $(KINDS),--var kinds=$(KINDS)) \
	$(if $(SEED),--var seed=$(SEED) --var schedule=random) \
	$(if $(TRACE_MEMORY),--var trace_memory=true)
# On a cloud target (TARGET=aws-gcp) BUDGET_USD is required, and the estimate for the soak plus
# 15 minutes must fit it (the same cost guard as the scheduled cloud drill).
soak: setup
	@$(if $(filter-out local,$(or $(TARGET),local)),$(RD) cloud cost-estimate \
		--hours $$(( ($(or $(SOAK_S),3600) + 900 + 3599) / 3600 )) \
		--budget-usd $(or $(BUDGET_USD),0) > /dev/null &&) \
	RIFTDRILL_DRILL_ARGS="$(SOAK_ARGS) $(if $(BUDGET_USD),--var budget_usd=$(BUDGET_USD)) $${RIFTDRILL_DRILL_ARGS:-}" \
		bash scripts/drill.sh soak $(DEPLOY_ARGS)

load: setup
	$(RD) load --rate $(RATE) --duration $(DURATION) --size $(SIZE)

verify: setup
	$(RD) verify

lint: setup
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy

# Unit tests first (fast, no root), then the lab integration tests against real namespaces,
# brokers and object stores. The lab tests start by clearing any lab this project left behind.
test: setup
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/mypy
	$(PY) -m pytest -q tests/unit
	$(PY) -m pytest -q -m lab --durations=15 tests/lab  # where the suite's time goes, in CI's log

test-unit: setup
	$(PY) -m pytest -q tests/unit

test-lab: setup
	$(PY) -m pytest -q -m lab tests/lab

bench: setup
	$(PY) -m riftdrill.bench

report: setup
	$(RD) report

# The figures README.md, docs/drills.md and docs/load.md quote, regenerated from results/ (between markers).
figures: setup
	$(RD) report --figures

# experiments/*.json from experiments/base.yaml + experiments/drills/*.yaml (experiments/README.md).
experiments: setup
	$(RD) experiments --write

# The same drills on each setup (stretched kafka, kafka per cloud + MM2, tansu) over the
# inter-region link, side by side; SETUPS="kafka tansu" picks some.
compare: setup
	$(RD) compare $(foreach s,$(SETUPS),--setup $(s))
	$(RD) report

# The compatibility matrix of each engine (deployed in turn, security wherever it runs), written
# to results/compat/<engine>.json; ENGINES=kafka for one.
ENGINES ?= kafka tansu
compat: setup
	@rc=0; $(RD) compat $(foreach e,$(ENGINES),--engine $(e)) || rc=$$?; $(RD) report && exit $$rc

# .riftdrill/ holds aws-gcp's local state: never delete it while it still names resources.
clean: destroy
	@$(PY) -c 'import sys; from riftdrill.terraform import Workspace; from pathlib import Path; \
	ws = Workspace(module_dir=Path("infra/envs/aws-gcp"), name="aws-gcp"); \
	sys.exit("make clean: aws-gcp state in .riftdrill/ still holds resources; run make destroy TARGET=aws-gcp first" if ws.backend.local and ws.has_state() else 0)'
	rm -rf .riftdrill
