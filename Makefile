# The two commands: `make test` and `make demo`. Each installs what it needs (scripts/setup).
SWIFT ?= swift

.PHONY: test demo setup build unit fuzz tsan interop rules e2e fleet metrics-only deploy prometheusrule \
	release install uninstall bench footprint sweep-cost load sizing clean

test: setup build unit fuzz tsan interop rules e2e fleet metrics-only deploy

setup:
	@scripts/setup

build: setup
	$(SWIFT) build --build-tests

unit: build
	$(SWIFT) test --skip-build

# Hostile configuration files (scripts/fuzz/corpus): libFuzzer on the YAML reader for 30 s
# (VIGIL_FUZZ_SECONDS), then the seeded mutations of ConfigFuzzTests through the whole parser, ten
# times as many as `make unit` runs. Either fails on a trap or a stack overflow.
fuzz: build
	scripts/fuzz/run
	VIGIL_FUZZ_ITERATIONS=20000 $(SWIFT) test --skip-build --filter ConfigFuzzTests

# The metrics core under the thread sanitizer, in its own build folder.
tsan: setup
	VIGIL_TSAN=1 $(SWIFT) test --sanitize=thread --scratch-path .build-tsan --filter VigilMetricsTests

interop: build
	scripts/interop

# The alert rules: valid, and each alert's firing, pending and cleared cases. Then the dashboards
# and the alerts against the metric contract, which the built binary prints (`vigil metrics`).
rules: build
	promtool check rules alerts/*.yml
	promtool test rules alerts/tests/*.yml
	.build/peers/bin/python scripts/e2e.d/check_dashboards.py
	.build/peers/bin/python scripts/e2e.d/check_alerts.py

# The sidecar under a real Prometheus server and with a real Pushgateway.
e2e: build
	scripts/e2e

# Three nodes on 127.0.0.2-4 (a sidecar and a plugin host each) under a Prometheus server with
# alerts/ loaded, and a Prometheus agent remote-writing to a central Prometheus: the dashboards with
# "All" and with one node, no per-node figure summed past the largest node's, the limit alert naming
# the one node over its limit, every node's series in the central store. About two and a half minutes.
fleet: build
	scripts/fleet

# What a node's scrape costs for 10, 100 and 1,000 plugins, measured (README's "Sizing" table:
# `scripts/sizing --readme` rewrites it).
sizing: build
	scripts/sizing

# The VigilMetrics product alone (Examples/MetricsOnly, a package of its own): it builds, runs,
# and its binary links neither libcurl, nor zlib, nor SwiftNIO.
metrics-only: setup
	SWIFT=$(SWIFT) scripts/check-metrics-only

# deploy/ checked offline: the Kubernetes manifests (kubernetes-validate, strict), the custom
# resources and the PrometheusRule against alerts/, the Prometheus agent (deploy/prometheus), the systemd unit (systemd-analyze), `make
# install`'s layout, and the built vigil run as the unit and the manifests run it. VIGIL_BIN picks
# the binary (the debug build by default; `make release` builds the one `make install` installs).
deploy: build
	VIGIL_BIN=$(or $(VIGIL_BIN),.build/debug/vigil) scripts/check-deploy

# deploy/kubernetes/common/prometheusrule.yaml, written from alerts/vigil-alerts.yml and
# alerts/vigil-recording.yml.
prometheusrule: setup
	.build/peers/bin/python scripts/gen-prometheusrule

# Installing, as exporters do: the binary (its Swift runtime linked in, so it runs without the
# toolchain), the unit, and under $(PREFIX)/share/vigil the reference config, the dashboards and the
# alerts. /etc/vigil/vigil.yml, which the unit reads, is installed only if absent and never removed.
# `make install VIGIL_BIN=path` installs that binary instead of building one.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share/vigil
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
INSTALL_DATA = config/vigil.yml config/prometheus.yml $(wildcard dashboards/*.json) \
	alerts/vigil-alerts.yml alerts/vigil-recording.yml alerts/RUNBOOK.md

# The shipped binary is linked for a smaller resident set (`make footprint` measures it), by the
# toolchain's lld: the relative relocations packed (DT_RELR, -1.5 MB: the loader no longer reads
# 1.5 MB of RELA entries at start; needs glibc 2.36, Debian 12), and vigil's own symbols left out of
# the dynamic symbol table (-1.6 MB: the 2 MB of .dynsym, .dynstr and .gnu.hash that every symbol
# lookup at load time touched; nothing looks them up, and the Swift runtime's are hidden already).
RELEASE_LINK_FLAGS = -Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs -Xlinker --no-export-dynamic

release: setup
	$(SWIFT) build -c release --static-swift-stdlib --product vigil $(RELEASE_LINK_FLAGS)

install: $(if $(VIGIL_BIN),,release)
	install -D -m 0755 $(or $(VIGIL_BIN),.build/release/vigil) $(DESTDIR)$(BINDIR)/vigil
	for f in $(INSTALL_DATA); do install -D -m 0644 $$f $(DESTDIR)$(DATADIR)/$$f || exit; done
	install -d $(DESTDIR)$(UNITDIR)
	sed -e 's|/usr/local/bin/vigil|$(BINDIR)/vigil|g' -e 's|/etc/vigil/|$(SYSCONFDIR)/vigil/|g' \
		deploy/systemd/vigil.service > $(DESTDIR)$(UNITDIR)/vigil.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/vigil.service
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/vigil/vigil.yml ]; then \
		echo "kept $(DESTDIR)$(SYSCONFDIR)/vigil/vigil.yml"; \
	else \
		install -D -m 0644 config/vigil.yml $(DESTDIR)$(SYSCONFDIR)/vigil/vigil.yml; \
	fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/vigil $(DESTDIR)$(UNITDIR)/vigil.service \
		$(addprefix $(DESTDIR)$(DATADIR)/,$(INSTALL_DATA))
	for d in $(addprefix $(DESTDIR)$(DATADIR)/,config dashboards alerts) $(DESTDIR)$(DATADIR); do \
		[ ! -d $$d ] || rmdir --ignore-fail-on-non-empty $$d; done
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/vigil/vigil.yml (your configuration), if any"

demo: setup
	$(SWIFT) build --product vigil
	.build/debug/vigil demo

# Vigil against swift-prometheus, side by side (Benchmarks/ is a package of its own); then the
# sidecar's resident memory beside process-exporter's (`make footprint`).
bench: setup
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark
	$(MAKE) --no-print-directory footprint
	scripts/sweep-cost .build/release/vigil

# The deployed sidecar's CPU per watched process per sweep beside process-exporter's, read from
# /proc while both watch the same 200 and 2,000 processes (scripts/sweep-cost).
sweep-cost: release
	scripts/sweep-cost .build/release/vigil

# Resident memory of the release vigil beside process-exporter watching the same processes, idle
# with one plugin and with 200 watched processes (needs prometheus-process-exporter).
footprint: release
	scripts/footprint .build/release/vigil

# Scrapes per second and p99 under wrk: Vigil's server beside swift-prometheus on plain NIO.
load: setup
	Benchmarks/scrape-load

clean:
	rm -rf .build .build-tsan Benchmarks/.build Examples/MetricsOnly/.build
