# The two commands: `make test` and `make demo`. Each installs what it needs (scripts/setup).
SWIFT ?= swift

.PHONY: test demo setup build unit tsan interop rules e2e metrics-only bench load clean

test: setup build unit tsan interop rules e2e metrics-only

setup:
	@scripts/setup

build: setup
	$(SWIFT) build --build-tests

unit: build
	$(SWIFT) test --skip-build

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

# The VigilMetrics product alone (Examples/MetricsOnly, a package of its own): it builds, runs,
# and its binary links neither libcurl, nor zlib, nor SwiftNIO.
metrics-only: setup
	SWIFT=$(SWIFT) scripts/check-metrics-only

demo: setup
	$(SWIFT) build --product vigil
	.build/debug/vigil demo

# Vigil against swift-prometheus, side by side (Benchmarks/ is a package of its own).
bench: setup
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark

# Scrapes per second and p99 under wrk: Vigil's server beside swift-prometheus on plain NIO.
load: setup
	Benchmarks/scrape-load

clean:
	rm -rf .build .build-tsan Benchmarks/.build Examples/MetricsOnly/.build
