# The two commands: `make test` and `make demo`. Each installs what it needs (scripts/setup).
SWIFT ?= swift

.PHONY: test demo setup build unit tsan interop bench clean

test: setup build unit tsan interop

setup:
	@scripts/setup

build: setup
	$(SWIFT) build --build-tests

unit: build
	$(SWIFT) test --skip-build

# The metrics core under the thread sanitizer, in its own build folder.
tsan: setup
	$(SWIFT) test --sanitize=thread --scratch-path .build-tsan --filter VigilMetricsTests

interop: build
	scripts/interop

demo: setup
	@echo "make demo: the demo arrives with the sidecar (vigil demo); until then there is nothing to run." >&2
	@exit 1

# Vigil against swift-prometheus, side by side (Benchmarks/ is a package of its own).
bench: setup
	cd Benchmarks && $(SWIFT) package --disable-sandbox benchmark

clean:
	rm -rf .build .build-tsan Benchmarks/.build
