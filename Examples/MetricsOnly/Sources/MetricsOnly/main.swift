// Counting with the VigilMetrics product alone: a counter, a labelled histogram, one text
// exposition. Built and checked by `make metrics-only` (scripts/check-metrics-only).
import VigilMetrics

let registry = Registry()
let requests = try registry.counter("metrics_only_requests_total", help: "Requests handled.")
let latency = try registry.histogram(
    "metrics_only_request_duration_seconds", help: "Time to handle a request, by route.", unit: "seconds",
    labelNames: ["route"], buckets: [0.01, 0.1, 1])

requests.inc()
latency.labels("/search").observe(0.05)
latency.labels("/search").observe(0.5)
print(registry.renderString(.text), terminator: "")
