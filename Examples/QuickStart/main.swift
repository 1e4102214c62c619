// The README's first example: counting and timing with the library. Built by `make test`, so
// the README's copy of it cannot rot.
import Vigil

let registry = Registry()
let jobs = try registry.counter("jobs_total", help: "Jobs run, by queue.", labelNames: ["queue"])
let duration = try registry.histogram("job_duration_seconds", help: "Time to run a job.", unit: "seconds")

let clock = ContinuousClock()
for n in 1...3 {
    let elapsed = clock.measure { _ = (1...10_000 * n).reduce(0, +) }
    jobs.labels("default").inc()
    duration.observe(elapsed)
}
print(registry.renderString(.openMetrics))
