# salesbot: the everyday commands. PYTHON may point at a virtualenv's python.
PYTHON ?= python
PG_BENCH ?= postgresql+psycopg://postgres@127.0.0.1/salesbot_bench

.PHONY: install test soak bench bench-quick lint

install:
	$(PYTHON) -m pip install -e ".[test]"

test:
	$(PYTHON) -m pytest

soak:
	$(PYTHON) -m pytest -m soak

lint:
	$(PYTHON) -m ruff check .
	lint-imports

# Every benchmark, full size (several minutes; PostgreSQL on 127.0.0.1 for e2e and leaderboard).
bench:
	-$(PYTHON) bench/parse.py
	-$(PYTHON) bench/ack.py
	-$(PYTHON) bench/fanout.py
	-$(PYTHON) bench/progress.py
	-$(PYTHON) bench/forecast.py
	$(PYTHON) bench/e2e.py --db $(PG_BENCH)
	$(PYTHON) bench/leaderboard.py --db $(PG_BENCH)
	$(PYTHON) bench/console.py
	$(PYTHON) bench/memory.py

# The same, shrunk to a minute or two.
bench-quick:
	$(PYTHON) bench/e2e.py --db $(PG_BENCH) --seconds 10
	$(PYTHON) bench/leaderboard.py --db $(PG_BENCH) --reports 300000 --teams 100
	$(PYTHON) bench/memory.py --seconds 15
	$(PYTHON) bench/forecast.py --months 3
	$(PYTHON) bench/console.py --small
