import VigilContract
import VigilMetrics

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The standard process metrics every Prometheus client library exports about its own process,
/// read from /proc at scrape time: `process_cpu_seconds_total`, `process_resident_memory_bytes`,
/// `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`,
/// `process_start_time_seconds`, and `process_threads`.
public struct ProcessCollector: Collector {
    let source: any ProcSource
    let constants: SystemConstants
    let pid: Int32

    /// Collects about this process, or about `pid` in `source` (tests).
    public init(source: any ProcSource = ProcFileSystem(), constants: SystemConstants? = nil, pid: Int32? = nil) {
        self.source = source
        self.constants = constants ?? .current(source: source)
        self.pid = pid ?? getpid()
    }

    typealias P = VigilMetric.Process

    public var descriptors: [MetricDescriptor] {
        [P.cpuSeconds.metric, P.residentMemory.metric, P.virtualMemory.metric, P.openFDs.metric, P.maxFDs.metric,
         P.startTime.metric, P.threads.metric]
    }

    public func collect() -> [CollectedFamily] {
        var families: [CollectedFamily] = []
        func add<S>(_ family: FamilyDescriptor<S>, _ value: CollectedValue) {
            families.append(CollectedFamily(family, samples: [CollectedSample(value)]))
        }
        let path = "\(pid)/stat"
        if let bytes = try? source.read(path), let stat = try? ProcStat.parse(bytes, path: path) {
            let ticks = Double(constants.clockTicksPerSecond)
            add(P.cpuSeconds, .counter(Double(stat.utime + stat.stime) / ticks))
            add(P.residentMemory, .gauge(Double(stat.residentPages) * Double(constants.pageSize)))
            add(P.virtualMemory, .gauge(Double(stat.virtualBytes)))
            add(P.startTime, .gauge(constants.bootTime + Double(stat.startTime) / ticks))
            add(P.threads, .gauge(Double(stat.numThreads)))
        }
        if let fds = try? source.countEntries("\(pid)/fd") {
            add(P.openFDs, .gauge(Double(fds)))
        }
        if let limit = try? source.openFileLimit(pid: pid) {
            add(P.maxFDs, .gauge(Double(limit)))
        }
        return families
    }
}
