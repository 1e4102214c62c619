import VigilMetrics

/// Every metric family Vigil exports, declared once. The code that registers or collects a
/// family uses the value here, dashboards and alert rules are checked against it, and
/// `vigil metrics` prints it: change a name here and every user of it changes with it.
///
/// The names follow the Prometheus conventions: base units, `_total` on counters, snake_case,
/// and label values from small, bounded sets.
public enum VigilMetric {
    // MARK: Phases (VigilInstrument.PluginObserver)

    public static let phaseExecutions = FamilyDescriptor<Counter>.counter(
        "vigil_phase_executions_total", help: "Phase executions, finished or failed.", labelNames: ["plugin", "phase"])
    public static let phaseErrors = FamilyDescriptor<Counter>.counter(
        "vigil_phase_errors_total", help: "Phase executions that threw, by error type.",
        labelNames: ["plugin", "phase", "error_type"])
    public static let phaseDuration = FamilyDescriptor<Histogram>.histogram(
        "vigil_phase_duration_seconds", help: "Time a phase execution took.", unit: "seconds",
        labelNames: ["plugin", "phase"])
    public static let phaseInFlight = FamilyDescriptor<Gauge>.gauge(
        "vigil_phase_in_flight", help: "Phase executions running now.", labelNames: ["plugin", "phase"])

    // MARK: Circuit breakers (VigilInstrument.CircuitBreaker)

    public static let breakerState = FamilyDescriptor<Gauge>.gauge(
        "vigil_breaker_state", help: "1 for the breaker's current state, 0 for the others.",
        labelNames: ["plugin", "breaker", "state"])
    public static let breakerTrips = FamilyDescriptor<Counter>.counter(
        "vigil_breaker_trips_total", help: "Moves of the breaker into the open state.", labelNames: ["plugin", "breaker"])
    public static let breakerRejectedCalls = FamilyDescriptor<Counter>.counter(
        "vigil_breaker_rejected_calls_total", help: "Calls refused because the breaker was open.",
        labelNames: ["plugin", "breaker"])

    // MARK: Plugin resources (VigilResources.ResourceSampler)

    public static let pluginResidentMemory = FamilyDescriptor<Gauge>.gauge(
        "vigil_plugin_resident_memory_bytes", help: "Resident memory of the plugin's processes, in bytes.", labelNames: ["plugin"])
    public static let pluginVirtualMemory = FamilyDescriptor<Gauge>.gauge(
        "vigil_plugin_virtual_memory_bytes", help: "Virtual memory of the plugin's processes, in bytes.", labelNames: ["plugin"])
    public static let pluginCPUSeconds = FamilyDescriptor<Counter>.counter(
        "vigil_plugin_cpu_seconds_total", help: "CPU time of the plugin's processes or threads, exited ones included.",
        labelNames: ["plugin", "mode"])
    public static let pluginOpenFDs = FamilyDescriptor<Gauge>.gauge(
        "vigil_plugin_open_fds", help: "Open file descriptors of the plugin's processes.", labelNames: ["plugin"])
    public static let pluginMaxFDs = FamilyDescriptor<Gauge>.gauge(
        "vigil_plugin_max_fds", help: "The smallest soft limit on open files among the plugin's processes.", labelNames: ["plugin"])
    public static let pluginThreads = FamilyDescriptor<Gauge>.gauge(
        "vigil_plugin_threads", help: "Threads of the plugin's processes, or its registered threads.", labelNames: ["plugin"])
    public static let pluginProcesses = FamilyDescriptor<Gauge>.gauge(
        "vigil_plugin_processes", help: "Processes matched to the plugin.", labelNames: ["plugin"])
    public static let pluginLimit = FamilyDescriptor<Gauge>.gauge(
        "vigil_plugin_limit", help: "The plugin's configured limit, in base units.", labelNames: ["plugin", "resource"])
    public static let pluginLimitExceeded = FamilyDescriptor<Gauge>.gauge(
        "vigil_plugin_limit_exceeded", help: "1 while the plugin is over the limit, else 0.", labelNames: ["plugin", "resource"])
    public static let pluginLimitViolations = FamilyDescriptor<Counter>.counter(
        "vigil_plugin_limit_violations_total", help: "Moves of the plugin into violation of a limit.",
        labelNames: ["plugin", "resource"])
    public static let sampleErrors = FamilyDescriptor<Counter>.counter(
        "vigil_sample_errors_total", help: "Problems met while sampling the plugin's processes, by reason.",
        labelNames: ["plugin", "reason"])

    // MARK: Plugin lifecycle

    public static let pluginInfo = FamilyDescriptor<Gauge>.gauge(
        "vigil_plugin_info", help: "1 for each loaded plugin; the version label tells which version.",
        labelNames: ["plugin", "version"])
    public static let pluginStartTime = FamilyDescriptor<Gauge>.gauge(
        "vigil_plugin_start_time_seconds", help: "When the plugin was loaded or first watched, in seconds since the epoch.",
        unit: "seconds", labelNames: ["plugin"])
    public static let pluginProcessStarts = FamilyDescriptor<Counter>.counter(
        "vigil_plugin_process_starts_total", help: "Processes that joined the plugin, told apart by pid and start time.",
        labelNames: ["plugin"])
    public static let pluginProcessExits = FamilyDescriptor<Counter>.counter(
        "vigil_plugin_process_exits_total",
        help: "Processes of the plugin that ended, by reason: the exit status the host reported, else unknown.",
        labelNames: ["plugin", "reason"])
    public static let pluginLimitActions = FamilyDescriptor<Counter>.counter(
        "vigil_plugin_limit_actions_total", help: "Actions taken because the plugin stayed over a limit.",
        labelNames: ["plugin", "resource", "action"])
    public static let pluginLimitActionsRefused = FamilyDescriptor<Counter>.counter(
        "vigil_plugin_limit_actions_refused_total",
        help: "Signals a limit policy called for that Vigil refused to send, by reason (too_many_targets, pid_namespace).",
        labelNames: ["plugin", "resource", "reason"])
    public static let pluginForeignProcesses = FamilyDescriptor<Gauge>.gauge(
        "vigil_plugin_foreign_processes",
        help: "Processes the plugin's matchers selected that another user owns: neither counted nor signalled.",
        labelNames: ["plugin"])

    // MARK: The sampler's own health (VigilResources.SamplerHealth)

    public static let samplerSweepDuration = FamilyDescriptor<Histogram>.histogram(
        "vigil_sampler_sweep_duration_seconds", help: "Time one sweep of every watched plugin's processes took.",
        unit: "seconds", buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])
    public static let samplerLastSweep = FamilyDescriptor<Gauge>.gauge(
        "vigil_sampler_last_sweep_timestamp_seconds",
        help: "When the sampler last finished a sweep, in seconds since the epoch; the plugin figures are that old.")
    public static let samplerInterval = FamilyDescriptor<Gauge>.gauge(
        "vigil_sampler_interval_seconds", help: "The time the sampler waits between sweeps.")
    public static let configLastReloadSuccessful = FamilyDescriptor<Gauge>.gauge(
        "vigil_config_last_reload_successful", help: "1 if the last load of the configuration file succeeded, else 0.")
    public static let configLastReloadSuccessTimestamp = FamilyDescriptor<Gauge>.gauge(
        "vigil_config_last_reload_success_timestamp_seconds",
        help: "When the configuration file was last loaded successfully, in seconds since the epoch.", unit: "seconds")

    // MARK: Plugin resources: deeper /proc and cgroup v2 (VigilResources.ResourceSampler)

    public static let pluginProportionalMemory = FamilyDescriptor<Gauge>.gauge(
        "vigil_plugin_proportional_memory_bytes",
        help: "Proportional set size of the plugin's processes in bytes: shared pages divided among their users.",
        labelNames: ["plugin"])
    public static let pluginSwap = FamilyDescriptor<Gauge>.gauge(
        "vigil_plugin_swap_bytes", help: "Swapped-out memory of the plugin's processes in bytes.", labelNames: ["plugin"])
    public static let pluginIOBytes = FamilyDescriptor<Counter>.counter(
        "vigil_plugin_io_bytes_total",
        help: "Bytes the plugin's processes read from or wrote to storage (read_bytes, write_bytes of /proc/<pid>/io), exited ones included.",
        labelNames: ["plugin", "direction"])
    public static let pluginContextSwitches = FamilyDescriptor<Counter>.counter(
        "vigil_plugin_context_switches_total",
        help: "Context switches of the main threads of the plugin's processes, by type, exited ones included.",
        labelNames: ["plugin", "type"])
    public static let pluginMajorPageFaults = FamilyDescriptor<Counter>.counter(
        "vigil_plugin_major_page_faults_total", help: "Page faults of the plugin's processes that read from disk, exited ones included.",
        labelNames: ["plugin"])
    public static let pluginWorstFDRatio = FamilyDescriptor<Gauge>.gauge(
        "vigil_plugin_worst_fd_ratio", help: "The highest open file descriptors / soft limit of any one of the plugin's processes.",
        labelNames: ["plugin"])
    public static let pluginCgroupMemory = FamilyDescriptor<Gauge>.gauge(
        "vigil_plugin_cgroup_memory_bytes", help: "Memory charged to the plugin's cgroup (memory.current, cgroup v2), in bytes.",
        labelNames: ["plugin"])
    public static let pluginCgroupMemoryLimit = FamilyDescriptor<Gauge>.gauge(
        "vigil_plugin_cgroup_memory_limit_bytes", help: "The plugin's cgroup memory limit (memory.max, cgroup v2); absent when unlimited.",
        labelNames: ["plugin"])
    public static let pluginCgroupCPULimit = FamilyDescriptor<Gauge>.gauge(
        "vigil_plugin_cgroup_cpu_limit_cores", help: "The plugin's cgroup CPU limit in cores (cpu.max quota / period, cgroup v2); absent when unlimited.",
        labelNames: ["plugin"])
    public static let pluginCgroupThrottled = FamilyDescriptor<Counter>.counter(
        "vigil_plugin_cgroup_cpu_throttled_seconds_total", help: "Time the plugin's cgroup was throttled by its CPU limit (throttled_usec of cpu.stat, cgroup v2).",
        labelNames: ["plugin"])
    public static let pluginCgroupOOMKills = FamilyDescriptor<Counter>.counter(
        "vigil_plugin_cgroup_oom_kills_total", help: "Processes of the plugin's cgroup killed for going over its memory limit (oom_kill of memory.events, cgroup v2).",
        labelNames: ["plugin"])

    // MARK: Traces (VigilTracing)

    public static let spansExported = FamilyDescriptor<Counter>.counter(
        "vigil_spans_exported_total", help: "Spans delivered to the exporter's receiver.")
    public static let spansDropped = FamilyDescriptor<Counter>.counter(
        "vigil_spans_dropped_total", help: "Spans lost, by reason.", labelNames: ["reason"])
    public static let spanQueueLength = FamilyDescriptor<Gauge>.gauge(
        "vigil_span_queue_length", help: "Spans waiting to be exported.")
    public static let spanEndErrors = FamilyDescriptor<Counter>.counter(
        "vigil_span_end_errors_total", help: "Calls to end() on a span that had already ended; they are ignored.")

    // MARK: Export (VigilExport)

    public static let pushes = FamilyDescriptor<Counter>.counter(
        "vigil_push_total", help: "Pushes to a Pushgateway or an OTLP collector, by target and result.",
        labelNames: ["target", "result"])
    public static let httpRequests = FamilyDescriptor<Counter>.counter(
        "vigil_http_requests_total", help: "HTTP requests served by the metrics endpoint, by path and status code.",
        labelNames: ["path", "code"])
    public static let scrapeDuration = FamilyDescriptor<Histogram>.histogram(
        "vigil_scrape_duration_seconds", help: "Time to render and compress one scrape.", unit: "seconds",
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1])
    public static let httpRejectedConnections = FamilyDescriptor<Counter>.counter(
        "vigil_http_rejected_connections_total",
        help: "Connections closed at once because too many were open, in all (limit total) or from the client's address (limit per_client).",
        labelNames: ["limit"])
    public static let httpTimedOutConnections = FamilyDescriptor<Counter>.counter(
        "vigil_http_timed_out_connections_total",
        help: "Connections closed because the TLS handshake or a request head was not complete by its deadline, by stage.",
        labelNames: ["stage"])
    public static let httpAuthFailures = FamilyDescriptor<Counter>.counter(
        "vigil_http_auth_failures_total",
        help: "Requests refused by basic auth, by reason: wrong_credentials (bcrypt said no), throttled (429: the address failed too often), busy (503: the bcrypt queue was full).",
        labelNames: ["reason"])
    public static let webConfigLastReloadSuccessful = FamilyDescriptor<Gauge>.gauge(
        "vigil_web_config_last_reload_successful",
        help: "Whether the web config (--web.config.file) last read, at start or after it changed, was applied (1) or refused and the previous one kept (0).")
    public static let webConfigCostlyHashes = FamilyDescriptor<Gauge>.gauge(
        "vigil_web_config_costly_hashes",
        help: "basic_auth_users hashes of the applied web config whose bcrypt cost is above 12: each check of a wrong password then costs 0.25 s of CPU or more.")

    // MARK: Push throttling and OTLP metrics (VigilExport)

    /// Time push clients spent holding requests back because the target asked to wait
    /// (`Retry-After` on a 429 or 503), by target: `otlp` (traces), `otlp_metrics`, `pushgateway`.
    public static let pushThrottled = FamilyDescriptor<Counter>.counter(
        "vigil_push_throttled_seconds_total", help: "Time pushes waited because the target asked to (Retry-After), by target.",
        unit: "seconds", labelNames: ["target"])

    // MARK: The process and the build

    public static let buildInfo = FamilyDescriptor<Gauge>.gauge(
        "vigil_build_info", help: "Always 1; the version label tells which Vigil runs.", labelNames: ["version"])

    /// The standard process metrics of the Prometheus client libraries, plus `process_threads`
    /// (VigilResources.ProcessCollector).
    public enum Process {
        public static let cpuSeconds = FamilyDescriptor<Counter>.counter(
            "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.")
        public static let residentMemory = FamilyDescriptor<Gauge>.gauge(
            "process_resident_memory_bytes", help: "Resident memory size in bytes.")
        public static let virtualMemory = FamilyDescriptor<Gauge>.gauge(
            "process_virtual_memory_bytes", help: "Virtual memory size in bytes.")
        public static let openFDs = FamilyDescriptor<Gauge>.gauge(
            "process_open_fds", help: "Number of open file descriptors.")
        public static let maxFDs = FamilyDescriptor<Gauge>.gauge(
            "process_max_fds", help: "Maximum number of open file descriptors.")
        public static let startTime = FamilyDescriptor<Gauge>.gauge(
            "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.")
        public static let threads = FamilyDescriptor<Gauge>.gauge(
            "process_threads", help: "Number of OS threads in the process.")
    }

    // MARK: Label values

    /// The values some labels take, where the set is fixed. Code that pre-creates series (so
    /// that `rate()` sees the first event) uses these lists.
    public enum Values {
        public static let breakerState = ["closed", "open", "half_open"]
        public static let cpuMode = ["user", "system"]
        public static let resource = ["memory_bytes", "cpu_ratio", "open_fds", "threads"]
        public static let sampleErrorReason = [
            "vanished", "permission_denied", "parse_error", "io_error", "unsafe_pid_file", "pid_reused",
        ]
        public static let ioDirection = ["read", "write"]
        public static let contextSwitchType = ["voluntary", "involuntary"]
        /// How a plugin's process ended: `exited` (status 0), `failed` (another status), the
        /// signal that killed it, or `unknown` when it was only seen to be gone.
        public static let exitReason = [
            "exited", "failed", "signal_term", "signal_kill", "signal_int", "signal_hup", "signal_segv", "signal_abrt",
            "signal_bus", "signal_ill", "signal_fpe", "signal_other", "unknown",
        ]
        /// What a limit that stays exceeded does; `dry_run` is counted and logged, nothing is done.
        public static let limitAction = ["signal", "escalate", "breaker", "dry_run"]
        public static let limitActionRefusal = ["too_many_targets", "pid_namespace"]
        public static let spanDropReason = ["queue_full", "export_failed", "rejected", "shutdown"]
        public static let pushTarget = ["pushgateway", "otlp", "otlp_metrics"]
        public static let pushResult = ["success", "failure"]
        public static let connectionLimit = ["total", "per_client"]
        public static let connectionStage = ["tls_handshake", "request_head"]
        public static let authFailureReason = ["wrong_credentials", "throttled", "busy"]
    }
}
