@_spi(VigilInternal) import VigilMetrics

/// Publishes the sampler's latest figures under the metric names of DESIGN.md.
struct PluginResourceCollector: Collector {
    let sampler: ResourceSampler

    var descriptors: [MetricDescriptor] {
        func gauge(_ name: String, _ help: String, _ labels: [String] = ["plugin"]) -> MetricDescriptor {
            MetricDescriptor(name: name, help: help, type: .gauge, labelNames: labels)
        }
        func counter(_ name: String, _ help: String, _ labels: [String]) -> MetricDescriptor {
            MetricDescriptor(name: name, help: help, type: .counter, labelNames: labels)
        }
        return [
            gauge("vigil_plugin_resident_memory_bytes", "Resident memory of the plugin's processes, in bytes."),
            gauge("vigil_plugin_virtual_memory_bytes", "Virtual memory of the plugin's processes, in bytes."),
            counter("vigil_plugin_cpu_seconds_total", "CPU time of the plugin's processes or threads, exited ones included.", ["plugin", "mode"]),
            gauge("vigil_plugin_open_fds", "Open file descriptors of the plugin's processes."),
            gauge("vigil_plugin_max_fds", "The smallest soft limit on open files among the plugin's processes."),
            gauge("vigil_plugin_threads", "Threads of the plugin's processes, or its registered threads."),
            gauge("vigil_plugin_processes", "Processes matched to the plugin."),
            gauge("vigil_plugin_limit", "The plugin's configured limit, in base units.", ["plugin", "resource"]),
            gauge("vigil_plugin_limit_exceeded", "1 while the plugin is over the limit, else 0.", ["plugin", "resource"]),
            counter("vigil_plugin_limit_violations_total", "Moves of the plugin into violation of a limit.", ["plugin", "resource"]),
            counter("vigil_sample_errors_total", "Problems met while sampling the plugin's processes, by reason.", ["plugin", "reason"]),
        ]
    }

    func collect() -> [CollectedFamily] {
        let plugins = sampler.state.withLock { $0.plugins }
        var families: [String: [CollectedSample]] = [:]
        func add(_ name: String, _ labels: [String], _ value: CollectedValue) {
            families[name, default: []].append(CollectedSample(labelValues: labels, value))
        }
        for config in sampler.plugins {
            guard let ps = plugins[config.name], ps.lastSampleTime != nil else { continue }
            let name = config.name
            let u = ps.usage
            if !u.threadsOnly {
                add("vigil_plugin_resident_memory_bytes", [name], .gauge(Double(u.residentBytes)))
                add("vigil_plugin_virtual_memory_bytes", [name], .gauge(Double(u.virtualBytes)))
                add("vigil_plugin_open_fds", [name], .gauge(Double(u.openFDs)))
                if let maxFDs = u.maxFDs { add("vigil_plugin_max_fds", [name], .gauge(Double(maxFDs))) }
                add("vigil_plugin_processes", [name], .gauge(Double(u.processes)))
            }
            add("vigil_plugin_cpu_seconds_total", [name, "user"], .counter(u.userSeconds))
            add("vigil_plugin_cpu_seconds_total", [name, "system"], .counter(u.systemSeconds))
            add("vigil_plugin_threads", [name], .gauge(Double(u.threads)))
            for resource in ResourceKind.allCases {
                guard let limit = config.limits[resource] else { continue }
                add("vigil_plugin_limit", [name, resource.rawValue], .gauge(limit))
                add("vigil_plugin_limit_exceeded", [name, resource.rawValue], .gauge(ps.exceeded[resource] == true ? 1 : 0))
                add("vigil_plugin_limit_violations_total", [name, resource.rawValue], .counter(Double(ps.violations[resource] ?? 0)))
            }
            // Every reason is exported from the first sample on, so that rate() sees the first error.
            var reasons = ps.errors
            for known in ["vanished", "permission_denied", "parse_error", "io_error"] where reasons[known] == nil { reasons[known] = 0 }
            for (reason, count) in reasons {
                add("vigil_sample_errors_total", [name, reason], .counter(Double(count)))
            }
        }
        return families.map { CollectedFamily(name: $0.key, samples: $0.value) }
    }
}
