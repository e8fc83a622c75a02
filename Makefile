# Dispute Desk — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Everything started from here runs on a laptop: the development auth secret is allowed.
export DD_ENV ?= local

.PHONY: install system-packages run stop demo test test-unit fuzz typecheck bench chaos chaos-backbone clean

install: system-packages $(STAMP)

# Debian packages outside the venv: the letters' font (glyf TrueType with Hangul and simplified Chinese,
# services/submit/letters.py), poppler's pdffonts/pdftoppm (the letters' tests) and chromium (the browser
# tests drive it with Playwright; DD_TEST_CHROMIUM names another binary), Tesseract with its Korean and
# simplified Chinese data (evidence reads screenshots) and prometheus for its promtool (the alert rules' and
# /metrics' checks). Installed with apt-get when we are root (CI is); otherwise the one command to run is
# printed and make stops.
system-packages:
	@missing=""; \
	test -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc || missing="$$missing fonts-wqy-microhei"; \
	command -v pdffonts >/dev/null && command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	test -x "$${DD_TEST_CHROMIUM:-/usr/bin/chromium}" || missing="$$missing chromium"; \
	command -v tesseract >/dev/null || missing="$$missing tesseract-ocr"; \
	for lang in kor chi_sim; do \
	  ls /usr/share/tesseract-ocr/*/tessdata/$$lang.traineddata >/dev/null 2>&1 || \
	    missing="$$missing tesseract-ocr-$$(echo $$lang | tr _ -)"; \
	done; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else \
	    echo "missing Debian packages:$$missing; run: sudo apt-get install -y --no-install-recommends$$missing" >&2; exit 1; \
	  fi; \
	fi

# One install path for everything (runtime, tests, CLI, the local servers): the root pyproject, editable.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,local]'
	touch $@

## Start PostgreSQL, Kafka, the five services and the portal simulator; Ctrl-C stops all.
run: install
	$(PY) -m deploy.local.run

## Stop what `make run` started: a run left running elsewhere, or what a killed one left (deploy/local/run.py).
stop: install
	$(PY) -m deploy.local.run stop

## With `make run` up (another terminal): two disputes from notice to verdict, step by step (docs/demo.md).
## Safe to run twice; DEMO_ARGS='--seller V901 --wait 90'.
demo: install
	$(PY) -m deploy.demo $(DEMO_ARGS)

## The whole suite against real PostgreSQL and Kafka (started on test ports, stopped after).
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: install
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

## schemathesis over every service's OpenAPI document, longer than the short run in `make test`.
FUZZ_EXAMPLES ?= 100
fuzz: install
	DD_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/integration/fuzz $(PYTEST_ARGS)

## mypy --strict (settings in pyproject.toml) on shared/ and every service package, all its modules
## (routes, handlers, use cases, repositories, schemas, migrations): a new service is typed from its first line.
TYPED := shared services
typecheck: install
	$(VENV)/bin/mypy $(TYPED)

## Throughput and hop-latency benchmarks (not part of the tests' pass/fail); results in bench/RESULTS.md.
bench: install
	$(PY) -m bench.backbone
	$(PY) -m bench.ingest
	$(PY) -m bench.evidence
	$(PY) -m bench.ocr
	$(PY) -m bench.deadline
	$(PY) -m bench.deadline --replicas 2
	$(PY) -m bench.submit
	$(PY) -m bench.notify
	$(PY) -m bench.load $(LOAD_ARGS)

## Kafka and PostgreSQL restarted under a steady writer; exits 1 if an event is lost, duplicated or
## dead-lettered. `tests/integration/shared/test_chaos_backbone.py` is its short form, run by `make test`.
chaos-backbone: install
	$(PY) -m bench.chaos_backbone $(CHAOS_ARGS)

## The whole system under a steady load while each service is SIGKILLed, Kafka and PostgreSQL restart and a
## consumer is paused past its session timeout; counts every effect, exits 1 on a loss or duplicate (docs/chaos.md).
## CHAOS_ARGS='--rate 4 --duration 180 --seed 7'. tests/e2e/test_chaos_system.py is its short form.
chaos: install
	$(PY) -m bench.chaos_system $(CHAOS_ARGS)

clean:
	-$(PY) -m deploy.local.run stop 2>/dev/null
	rm -rf .local/dev .local/test .pytest_cache
