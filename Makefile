# make test    go test ./...
# make bench   the benchmark tables (bench/), as the caller and, when the
#              caller is root, again as BENCH_USER through setpriv. Each run
#              measures everything twice (BENCH_PASSES): latency rows,
#              launches per second with 1 and 2 workers, children's peak
#              RSS. The tables go to bench/RESULTS.md (below its marker
#              line), the root run's charts to docs/bench.png (latency)
#              and docs/bench-throughput.png (launches per second). As
#              root, missing peers (bwrap, crun, runc, busybox-static) are
#              installed with apt-get first. BENCH_GO=1 (the default) adds
#              the Go benchmarks' own output after each table; BENCH_GO=
#              leaves it out.

GO          ?= go
BENCH_USER  ?= 65534
BENCH_PASSES ?= 2
BENCH_ROUNDS ?= 80
BENCH_HEAVY_EVERY ?= 5
BENCH_TPUT_MS ?= 300
BENCH_TPUT_REPS ?= 3
BENCH_RSS_ROUNDS ?= 10
BENCHTIME   ?= 200ms
BENCH_GO    ?= 1
BENCH_PEERS ?= bwrap:bubblewrap crun:crun runc:runc busybox:busybox-static
APT_GET     ?= apt-get

.PHONY: test bench bench-peers

test:
	$(GO) test ./...

# bench-peers installs the tools the peer rows run, when root and missing
# (a dynamic busybox counts as missing: the rows need a static one).
bench-peers:
	@if [ "$$(id -u)" = 0 ] && command -v $(APT_GET) >/dev/null; then \
		missing=; \
		for t in $(BENCH_PEERS); do \
			p=$$(command -v "$${t%%:*}" || true); \
			if [ -z "$$p" ] || { [ "$${t%%:*}" = busybox ] && ldd "$$p" >/dev/null 2>&1; }; then \
				missing="$$missing $${t#*:}"; \
			fi; \
		done; \
		if [ -n "$$missing" ]; then \
			echo "bench: installing$$missing"; \
			DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y $$missing || \
				{ $(APT_GET) update && DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y $$missing; } || \
				echo "bench: could not install$$missing; those rows will be skipped"; \
		fi; \
	fi

bench: bench-peers
	@set -e; \
	t0=$$(date +%s); \
	dir=$$(mktemp -d); trap 'rm -rf "$$dir"' EXIT; \
	$(GO) test -c -o "$$dir/bench.test" ./bench; \
	$(GO) build -o "$$dir/sandboxrun" ./cmd/sandboxrun; \
	CGO_ENABLED=0 $(GO) build -o "$$dir/sandboxrun-nocgo" ./cmd/sandboxrun; \
	printf 'package main\n\nfunc main() {}\n' > "$$dir/empty.go"; \
	CGO_ENABLED=0 $(GO) build -o "$$dir/go-empty" "$$dir/empty.go"; \
	chmod 755 "$$dir" "$$dir/bench.test" "$$dir/sandboxrun" "$$dir/sandboxrun-nocgo" "$$dir/go-empty"; \
	: > "$$dir/results.md"; chmod 666 "$$dir/results.md"; \
	gobench=; if [ -n "$(BENCH_GO)" ]; then gobench="-test.bench=. -test.benchtime=$(BENCHTIME)"; fi; \
	run() { \
		(cd "$$dir" && "$$@" env NSFORK_SANDBOXRUN="$$dir/sandboxrun" NSFORK_SANDBOXRUN_NOCGO="$$dir/sandboxrun-nocgo" \
			NSFORK_GO_EMPTY="$$dir/go-empty" NSFORK_BENCH_TABLE=1 \
			NSFORK_BENCH_PASSES=$(BENCH_PASSES) NSFORK_BENCH_ROUNDS=$(BENCH_ROUNDS) \
			NSFORK_BENCH_HEAVY_EVERY=$(BENCH_HEAVY_EVERY) NSFORK_BENCH_TPUT_MS=$(BENCH_TPUT_MS) \
			NSFORK_BENCH_TPUT_REPS=$(BENCH_TPUT_REPS) NSFORK_BENCH_RSS_ROUNDS=$(BENCH_RSS_ROUNDS) \
			NSFORK_BENCH_MD="$$dir/results.md" $$png \
			./bench.test -test.run='^TestPrintTable$$' $$gobench); \
	}; \
	uptime; \
	png=NSFORK_BENCH_PNG="$$dir/bench.png"; \
	if [ "$$(id -u)" != 0 ]; then png=; fi; \
	run; \
	png=; \
	if [ "$$(id -u)" = 0 ]; then \
		run setpriv --reuid=$(BENCH_USER) --regid=$(BENCH_USER) --clear-groups --; \
	fi; \
	uptime; \
	for f in bench.png bench-throughput.png; do \
		if [ -f "$$dir/$$f" ]; then mkdir -p docs && cp "$$dir/$$f" "docs/$$f" && echo "bench: wrote docs/$$f"; fi; \
	done; \
	marker='<!-- make bench writes everything below this line -->'; \
	{ if [ -f bench/RESULTS.md ]; then sed "/^$$marker/,\$$d" bench/RESULTS.md; else echo '# Benchmark results'; fi; \
	  echo "$$marker"; echo; \
	  echo "Last \`make bench\`: $$(date -u '+%Y-%m-%d %H:%M UTC'), $$(( $$(date +%s) - t0 ))s in all (build included)."; \
	  cat "$$dir/results.md"; } > "$$dir/RESULTS.md"; \
	cp "$$dir/RESULTS.md" bench/RESULTS.md; \
	echo "bench: wrote bench/RESULTS.md; $$(( $$(date +%s) - t0 ))s in all"
