# pg_apes_health: PGXS build.  The version lives in the control file only.
EXTENSION  = pg_apes_health
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'.*/\1/p" $(EXTENSION).control)

MODULE_big = $(EXTENSION)
OBJS       = $(patsubst %.c,%.o,$(wildcard src/*.c))
PGFILEDESC = "pg_apes_health - database health from inside PostgreSQL"

DATA       = $(wildcard sql/$(EXTENSION)--*.sql)
DOCS       = README.md

PG_CPPFLAGS += -Isrc -DAPES_VERSION=\"$(EXTVERSION)\" -I$(shell $(PG_CONFIG) --includedir)
# libpq, to read PgBouncer's admin console from inside the backend (src/pgbouncer.c), linked as pg_cron does
SHLIB_LINK += -L$(shell $(PG_CONFIG) --libdir) -lpq

# pg_regress: inputs in test/sql, expected output in expected/ (top level).
REGRESS = install index_health findings demo table_bloat index_bloat bloat_findings history finding_history pools iit_timeout maintenance acknowledge metrics report_html bad_input memory privileges security index_advice
REGRESS_OPTS = --inputdir=test --outputdir=.

# Isolation tests (concurrency): specs in test/specs, expected output in expected/.
ISOLATION      = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --outputdir=.

EXTRA_CLEAN = results regression.diffs regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Every object depends on every header of src/ (a handful): a changed struct never leaves a stale object behind.
$(OBJS): $(wildcard src/*.h)
# The library's version is compiled in from the control file: a new version rebuilds the objects that print it.
$(patsubst %.c,%.o,$(shell grep -l APES_VERSION src/*.c src/*.h 2>/dev/null | grep '\.c$$')): $(EXTENSION).control

# The warning set CI builds with (kept out of the default so packagers are not broken by -Werror).
STRICT_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-missing-field-initializers -Werror

.PHONY: test demo docs bench bench-bloat bench-history bench-pool bench-scale bench-report bench-advice strict
# One command: install what is missing, build, start a throwaway cluster, run pg_regress and pgTAP.
test:
	test/run_tests.sh

# One command: the same set-up, then a demo database with planted problems and its health report.
demo:
	test/demo.sh

# docs/checks.md from the registry of checks (apes.checks), and contrib/postgres_exporter/queries.yaml from the metric
# families (apes.metric_families()), in a throwaway cluster with the installed extension.
docs:
	test/cluster.sh sh -c 'createdb apes_docs && psql -X -q -d apes_docs -c "CREATE EXTENSION pg_apes_health" && psql -X -At -d apes_docs -f test/checks_doc.sql >docs/checks.md && psql -X -q -At -d apes_docs -f contrib/postgres_exporter/generate.sql >contrib/postgres_exporter/queries.yaml'

# The index-health benchmark (10,000 tables, ~41,000 indexes) in a throwaway cluster.
bench:
	bench/run.sh

# The bloat accuracy and speed benchmark (scenarios, pgstattuple side by side, a 1.3 GB table).
bench-bloat:
	bench/bloat/run.sh

# The history benchmark (snapshots of 5,000 statements on the 10,000-table catalog, 30 days of history).
bench-history:
	bench/history/run.sh

# The scale benchmark (issue 12): 10,000 and 100,000 tables and a sparse 1 TB table, in a persistent cluster whose
# build resumes where it stopped (bench/scale/README.md).
bench-scale:
	bench/scale/run.sh

# The pool benchmark (250 sessions in several states; pools, capacity and blocking against plain SQL).
bench-pool:
	bench/pool/run.sh

# The report benchmark: apes.report_html() and apes.metrics() on the 10,000-table catalog with 30 days of history,
# against plain SQL doing the same aggregation (bench/report/README.md).
bench-report:
	bench/report/run.sh

# The index advice benchmark (drop simulations and suggestions on 10,000 tables and 5,000 statements, against EXPLAIN
# from SQL), in a throwaway cluster of test/cluster.sh.
bench-advice:
	bench/advice/run.sh

strict:
	$(MAKE) PG_CFLAGS='$(STRICT_CFLAGS)'
