import Logging
import ServiceLifecycle
import Vigil
import VigilSupport

/// The demo's host: two workers run the OCR plugin and two the translate plugin, as fast as a
/// busy host would, until graceful shutdown; meanwhile a progress line is logged every few seconds.
/// The backend's story starts when the service does.
struct DemoService: Service {
    let observer: PluginObserver
    let breaker: CircuitBreaker
    let timings: DemoTimings
    let sampler: ResourceSampler
    let logger: Logger
    let progressInterval: Duration

    func run() async throws {
        let ocr = OCRPlugin().observed(by: observer)
        let translate = TranslatePlugin(backend: CallBackend(started: .now, timings: timings).guarded(by: breaker)).observed(by: observer)
        let runs = RunCounts()
        await withDiscardingTaskGroup { group in
            for worker in 0..<4 {
                let plugin: RunCounts.Plugin = worker < 2 ? .ocr : .translate
                group.addTask {
                    await cancelWhenGracefulShutdown {
                        while !Task.isCancelled {
                            do {
                                switch plugin {
                                case .ocr: _ = try await ocr.run((0..<Int.random(in: 2_000...20_000)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
                                case .translate: _ = try await translate.run("the quick brown fox jumps")
                                }
                                runs.add(plugin, failed: false)
                            } catch {
                                runs.add(plugin, failed: true)
                                try? await Task.sleep(for: .milliseconds(50))  // a failing host backs off a little
                            }
                            try? await Task.sleep(for: .milliseconds(Int.random(in: 20...80)))  // the next request's arrival
                        }
                    }
                }
            }
            group.addTask {
                await cancelWhenGracefulShutdown {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: progressInterval)
                        logProgress(runs)
                    }
                }
            }
        }
    }

    private func logProgress(_ runs: RunCounts) {
        let memory = sampler.usage[HungryChild.pluginName].map { "\($0.residentBytes >> 20) MiB" } ?? "?"
        let counts = runs.snapshot
        logger.info("demo progress", metadata: [
            "ocr_runs": "\(counts.ocr)", "translate_runs": "\(counts.translate)", "failed": "\(counts.failed)",
            "breaker": "\(breaker.state.rawValue)", "hungry_child_memory": "\(memory)",
        ])
    }
}

/// Runs of each plugin and how many failed, for the progress lines.
final class RunCounts: Sendable {
    enum Plugin { case ocr, translate }

    private let counts = Locked((ocr: 0, translate: 0, failed: 0))

    func add(_ plugin: Plugin, failed: Bool) {
        counts.withLock { c in
            switch plugin {
            case .ocr: c.ocr += 1
            case .translate: c.translate += 1
            }
            if failed { c.failed += 1 }
        }
    }

    var snapshot: (ocr: Int, translate: Int, failed: Int) { counts.withLock { $0 } }
}
