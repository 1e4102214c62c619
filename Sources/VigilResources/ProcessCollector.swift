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

    public var descriptors: [MetricDescriptor] {
        [
            MetricDescriptor(name: "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.", type: .counter),
            MetricDescriptor(name: "process_resident_memory_bytes", help: "Resident memory size in bytes.", type: .gauge),
            MetricDescriptor(name: "process_virtual_memory_bytes", help: "Virtual memory size in bytes.", type: .gauge),
            MetricDescriptor(name: "process_open_fds", help: "Number of open file descriptors.", type: .gauge),
            MetricDescriptor(name: "process_max_fds", help: "Maximum number of open file descriptors.", type: .gauge),
            MetricDescriptor(name: "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.", type: .gauge),
            MetricDescriptor(name: "process_threads", help: "Number of OS threads in the process.", type: .gauge),
        ]
    }

    public func collect() -> [CollectedFamily] {
        var families: [CollectedFamily] = []
        func add(_ name: String, _ value: CollectedValue) {
            families.append(CollectedFamily(name: name, samples: [CollectedSample(value)]))
        }
        let path = "\(pid)/stat"
        if let bytes = try? source.read(path), let stat = try? ProcStat.parse(bytes, path: path) {
            let ticks = Double(constants.clockTicksPerSecond)
            add("process_cpu_seconds_total", .counter(Double(stat.utime + stat.stime) / ticks))
            add("process_resident_memory_bytes", .gauge(Double(stat.residentPages) * Double(constants.pageSize)))
            add("process_virtual_memory_bytes", .gauge(Double(stat.virtualBytes)))
            add("process_start_time_seconds", .gauge(constants.bootTime + Double(stat.startTime) / ticks))
            add("process_threads", .gauge(Double(stat.numThreads)))
        }
        if let fds = try? source.countEntries("\(pid)/fd") {
            add("process_open_fds", .gauge(Double(fds)))
        }
        if let bytes = try? source.read("\(pid)/limits"), let limit = try? ProcFiles.maxOpenFiles(bytes, path: "") {
            add("process_max_fds", .gauge(Double(limit)))
        }
        return families
    }
}
