# make test    go test ./...
# make bench   the benchmark table (bench/), as the caller and, when the
#              caller is root, again as BENCH_USER through setpriv. Set
#              BENCH_GO=1 to add the Go benchmarks' own output (p50/p95 and
#              ratios as metrics) after each table.

GO          ?= go
BENCH_USER  ?= 65534
BENCH_ROUNDS ?= 150
BENCH_HEAVY_EVERY ?= 5
BENCHTIME   ?= 1s
BENCH_GO    ?= 1

.PHONY: test bench

test:
	$(GO) test ./...

bench:
	@set -e; \
	dir=$$(mktemp -d); trap 'rm -rf "$$dir"' EXIT; \
	$(GO) test -c -o "$$dir/bench.test" ./bench; \
	$(GO) build -o "$$dir/sandboxrun" ./cmd/sandboxrun; \
	chmod 755 "$$dir" "$$dir/bench.test" "$$dir/sandboxrun"; \
	gobench=; if [ -n "$(BENCH_GO)" ]; then gobench="-test.bench=. -test.benchtime=$(BENCHTIME)"; fi; \
	run() { \
		(cd "$$dir" && "$$@" env NSFORK_SANDBOXRUN="$$dir/sandboxrun" NSFORK_BENCH_TABLE=1 NSFORK_BENCH_ROUNDS=$(BENCH_ROUNDS) \
			NSFORK_BENCH_HEAVY_EVERY=$(BENCH_HEAVY_EVERY) \
			./bench.test -test.run='^TestPrintTable$$' $$gobench); \
	}; \
	uptime; \
	run; \
	if [ "$$(id -u)" = 0 ]; then \
		run setpriv --reuid=$(BENCH_USER) --regid=$(BENCH_USER) --clear-groups --; \
	fi; \
	uptime
