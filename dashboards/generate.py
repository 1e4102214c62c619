"""Writes Vigil's Grafana dashboards (python3 dashboards/generate.py [OUTPUT_DIR]). The JSON files are
committed; scripts/e2e.d/check_dashboards.py checks them. Rules every panel follows here: a
`datasource` variable of type prometheus (no __inputs, so the files import through the UI and
through provisioning alike), `$__rate_interval` in every rate, a unit and a description."""
import json
import sys
from pathlib import Path

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'job=~"$job", instance=~"$instance"'
PSEL = SEL + ', plugin=~"$plugin"'
PHSEL = PSEL + ', phase=~"$phase"'


def variables(with_phases):
    def query(name, q, hide=0):
        return {"name": name, "label": name, "type": "query", "datasource": DS, "query": {"query": q, "refId": name},
                "definition": q, "refresh": 2, "includeAll": True, "multi": True, "allValue": ".*",
                "current": {"text": "All", "value": "$__all"}, "sort": 1, "hide": hide}
    out = [{"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0, "refresh": 1}]
    out.append(query("job", 'label_values({__name__=~"vigil_.+"}, job)'))
    out.append(query("instance", 'label_values({__name__=~"vigil_.+", job=~"$job"}, instance)'))
    if with_phases:
        out.append(query("plugin", f'label_values(vigil_plugin_threads{{{SEL}}}, plugin)'))
        out.append(query("phase", f'label_values(vigil_phase_executions_total{{{SEL}}}, phase)'))
    return out


class Layout:
    def __init__(self):
        self.panels, self.x, self.y, self.next_id = [], 0, 0, 1

    def row(self, title):
        if self.x:
            self.x, self.y = 0, self.y + 8
        self.panels.append({"type": "row", "title": title, "id": self.next_id, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.next_id += 1
        self.y += 1

    def panel(self, kind, title, description, unit, targets, width=12, exemplars=False, **extra):
        """A panel; with `exemplars`, its queries also ask Prometheus for exemplars (which needs
        --enable-feature=exemplar-storage and an OpenMetrics scrape, see config/prometheus.yml)."""
        if self.x + width > 24:
            self.x, self.y = 0, self.y + 8
        panel = {"type": kind, "title": title, "description": description, "id": self.next_id, "datasource": DS,
                 "gridPos": {"h": 8, "w": width, "x": self.x, "y": self.y},
                 "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                 "targets": [{"refId": chr(65 + i), "datasource": DS, "expr": expr, "legendFormat": legend, **({"format": "heatmap"} if kind == "heatmap" else {}), **({"exemplar": True} if exemplars else {})}
                             for i, (expr, legend) in enumerate(targets)]}
        panel.update(extra)
        self.panels.append(panel)
        self.next_id += 1
        self.x += width


def lifecycle_annotations():
    """Loads and unloads of plugins, drawn on every panel: a vigil_plugin_info series that appears
    (loaded, or upgraded to another version) or disappears (unloaded) within the last minute."""
    def annotation(name, color, expr, title):
        return {"name": name, "datasource": DS, "enable": True, "iconColor": color, "expr": expr, "step": "1m",
                "titleFormat": title, "textFormat": "version {{version}} on {{instance}}", "tagKeys": "plugin,version",
                "useValueForTime": False}
    info = f"vigil_plugin_info{{{PSEL}}}"
    return [annotation("Plugin loads", "green", f"{info} unless ({info} offset 1m)", "loaded {{plugin}}"),
            annotation("Plugin unloads", "red", f"({info} offset 1m) unless {info}", "unloaded {{plugin}}")]


def dashboard(uid, title, description, layout, with_phases):
    return {"uid": uid, "title": title, "description": description, "tags": ["vigil"], "editable": True,
            "schemaVersion": 39, "version": 1, "time": {"from": "now-1h", "to": "now"}, "refresh": "30s",
            "timezone": "", "graphTooltip": 1, "templating": {"list": variables(with_phases)},
            "annotations": {"list": lifecycle_annotations() if with_phases else []}, "links": [], "panels": layout.panels}


def plugins_overview():
    l = Layout()
    l.row("Phases")
    l.panel("timeseries", "Phase throughput", "Phase executions per second, finished or failed.", "ops",
            [(f"sum by (plugin, phase) (rate(vigil_phase_executions_total{{{PHSEL}}}[$__rate_interval]))", "{{plugin}} / {{phase}}")])
    l.panel("timeseries", "Phase error ratio", "Share of executions that threw, by phase (vigil_phase_errors_total over executions).", "percentunit",
            [(f"sum by (plugin, phase) (rate(vigil_phase_errors_total{{{PHSEL}}}[$__rate_interval])) / sum by (plugin, phase) (rate(vigil_phase_executions_total{{{PHSEL}}}[$__rate_interval]))", "{{plugin}} / {{phase}}")])
    l.panel("timeseries", "Phase latency (p50, p90, p99)", "Quantiles of vigil_phase_duration_seconds; its exemplars (the dots) name the trace_id of a phase that took that long.", "s",
            [(f"histogram_quantile({q}, sum by (le, plugin, phase) (rate(vigil_phase_duration_seconds_bucket{{{PHSEL}}}[$__rate_interval])))", f"p{int(q*100)} {{{{plugin}}}} / {{{{phase}}}}") for q in (0.5, 0.9, 0.99)],
            exemplars=True)
    l.panel("heatmap", "Phase duration heatmap", "How phase durations spread over the histogram's buckets.", "s",
            [(f"sum by (le) (rate(vigil_phase_duration_seconds_bucket{{{PHSEL}}}[$__rate_interval]))", "{{le}}")],
            options={"calculate": False, "yAxis": {"unit": "s"}, "cellGap": 1})
    l.panel("timeseries", "Phases in flight", "Executions running now (vigil_phase_in_flight).", "short",
            [(f"sum by (plugin, phase) (vigil_phase_in_flight{{{PHSEL}}})", "{{plugin}} / {{phase}}")], width=24)
    l.row("Circuit breakers")
    l.panel("state-timeline", "Breaker state", "The current state of each breaker: closed, open or half-open.", "short",
            [(f"max by (plugin, breaker, state) (vigil_breaker_state{{{PSEL}}}) == 1", "{{plugin}} / {{breaker}}: {{state}}")])
    l.panel("timeseries", "Breaker trips and rejected calls", "Moves into the open state, and calls refused while open.", "short",
            [(f"sum by (plugin, breaker) (increase(vigil_breaker_trips_total{{{PSEL}}}[$__rate_interval]))", "trips {{plugin}} / {{breaker}}"),
             (f"sum by (plugin, breaker) (increase(vigil_breaker_rejected_calls_total{{{PSEL}}}[$__rate_interval]))", "rejected {{plugin}} / {{breaker}}")])
    l.row("Resources against limits")
    l.panel("timeseries", "Resident memory and its limit", "Resident memory of each plugin's processes, with its configured limit as a line.", "bytes",
            [(f"sum by (plugin) (vigil_plugin_resident_memory_bytes{{{PSEL}}})", "{{plugin}}"),
             (f'max by (plugin) (vigil_plugin_limit{{{PSEL}, resource="memory_bytes"}})', "limit {{plugin}}")])
    l.panel("timeseries", "CPU (cores) and its limit", "CPU seconds per second of each plugin, with its cpu_ratio limit; 1 is one core.", "short",
            [(f"sum by (plugin) (rate(vigil_plugin_cpu_seconds_total{{{PSEL}}}[$__rate_interval]))", "{{plugin}}"),
             (f'max by (plugin) (vigil_plugin_limit{{{PSEL}, resource="cpu_ratio"}})', "limit {{plugin}}")])
    l.panel("timeseries", "Open file descriptors and their limit", "Open fds of each plugin's processes, with the configured limit.", "short",
            [(f"sum by (plugin) (vigil_plugin_open_fds{{{PSEL}}})", "{{plugin}}"),
             (f'max by (plugin) (vigil_plugin_limit{{{PSEL}, resource="open_fds"}})', "limit {{plugin}}")])
    l.panel("timeseries", "Threads and their limit", "Threads of each plugin's processes, with the configured limit.", "short",
            [(f"sum by (plugin) (vigil_plugin_threads{{{PSEL}}})", "{{plugin}}"),
             (f'max by (plugin) (vigil_plugin_limit{{{PSEL}, resource="threads"}})', "limit {{plugin}}")])
    l.panel("timeseries", "Nearest process to its fd limit", "The highest open fds / soft fd limit of any one process of each plugin (vigil_plugin_worst_fd_ratio): 1 is a process out of file descriptors. A sum of fds over processes against one process's limit would mislead.", "percentunit",
            [(f"max by (plugin) (vigil_plugin_worst_fd_ratio{{{PSEL}}})", "{{plugin}}")])
    l.panel("state-timeline", "Limits exceeded", "1 while a plugin is over a limit (vigil_plugin_limit_exceeded).", "short",
            [(f"max by (plugin, resource) (vigil_plugin_limit_exceeded{{{PSEL}}})", "{{plugin}} / {{resource}}")])
    l.panel("timeseries", "Limit violations", "Moves of a plugin into violation of a limit.", "short",
            [(f"sum by (plugin, resource) (increase(vigil_plugin_limit_violations_total{{{PSEL}}}[$__rate_interval]))", "{{plugin}} / {{resource}}")])
    l.row("Memory, I/O and scheduling")
    l.panel("timeseries", "Proportional and swapped memory", "PSS (shared pages divided among their users) and swap of each plugin's processes, from smaps_rollup; only plugins with smaps: true.", "bytes",
            [(f"sum by (plugin) (vigil_plugin_proportional_memory_bytes{{{PSEL}}})", "PSS {{plugin}}"),
             (f"sum by (plugin) (vigil_plugin_swap_bytes{{{PSEL}}})", "swap {{plugin}}")])
    l.panel("timeseries", "Storage I/O", "Bytes per second the plugin's processes read from and wrote to storage (read_bytes, write_bytes of /proc/<pid>/io).", "Bps",
            [(f"sum by (plugin, direction) (rate(vigil_plugin_io_bytes_total{{{PSEL}}}[$__rate_interval]))", "{{plugin}} {{direction}}")])
    l.panel("timeseries", "Context switches", "Context switches per second of the plugin's processes' main threads; involuntary ones mean the CPU was taken away.", "ops",
            [(f"sum by (plugin, type) (rate(vigil_plugin_context_switches_total{{{PSEL}}}[$__rate_interval]))", "{{plugin}} {{type}}")])
    l.panel("timeseries", "Major page faults", "Page faults per second that had to read from disk: memory pressure or a cold start.", "ops",
            [(f"sum by (plugin) (rate(vigil_plugin_major_page_faults_total{{{PSEL}}}[$__rate_interval]))", "{{plugin}}")])
    l.row("Cgroup (plugins matched by cgroup, cgroup v2)")
    l.panel("timeseries", "Cgroup memory and memory.max", "Memory charged to each plugin's cgroup, with its memory.max (absent when unlimited).", "bytes",
            [(f"max by (plugin) (vigil_plugin_cgroup_memory_bytes{{{PSEL}}})", "{{plugin}}"),
             (f"max by (plugin) (vigil_plugin_cgroup_memory_limit_bytes{{{PSEL}}})", "memory.max {{plugin}}")])
    l.panel("timeseries", "CPU throttling", "Seconds per second each plugin's cgroup was held back by its cpu.max, with the limit in cores.", "short",
            [(f"sum by (plugin) (rate(vigil_plugin_cgroup_cpu_throttled_seconds_total{{{PSEL}}}[$__rate_interval]))", "throttled {{plugin}}"),
             (f"max by (plugin) (vigil_plugin_cgroup_cpu_limit_cores{{{PSEL}}})", "cpu.max cores {{plugin}}")])
    l.panel("timeseries", "OOM kills", "Processes of each plugin's cgroup the kernel killed for going over memory.max.", "short",
            [(f"sum by (plugin) (increase(vigil_plugin_cgroup_oom_kills_total{{{PSEL}}}[$__rate_interval]))", "{{plugin}}")], width=24)
    l.row("Plugins coming and going")
    l.panel("table", "Loaded plugins", "Each loaded plugin, its version and when it was loaded (vigil_plugin_info, vigil_plugin_start_time_seconds).", "dateTimeAsIso",
            [(f"max by (plugin, version) (vigil_plugin_info{{{PSEL}}}) * on (plugin) group_left max by (plugin) (vigil_plugin_start_time_seconds{{{PSEL}}}) * 1000", "{{plugin}} {{version}}")],
            options={"showHeader": True})
    l.panel("timeseries", "Process starts and exits", "Processes that joined or left each plugin, exits by reason (exited, failed, a signal, unknown): a crash loop shows here first.", "short",
            [(f"sum by (plugin) (increase(vigil_plugin_process_starts_total{{{PSEL}}}[$__rate_interval]))", "starts {{plugin}}"),
             (f"sum by (plugin, reason) (increase(vigil_plugin_process_exits_total{{{PSEL}}}[$__rate_interval]))", "exits {{plugin}}: {{reason}}")])
    l.panel("timeseries", "Limit actions", "Signals sent, breakers held open, and dry runs, because a plugin stayed over a limit (vigil_plugin_limit_actions_total).", "short",
            [(f"sum by (plugin, resource, action) (increase(vigil_plugin_limit_actions_total{{{PSEL}}}[$__rate_interval]))", "{{plugin}} / {{resource}}: {{action}}")], width=24)
    return dashboard("vigil-plugins-overview", "Vigil / Plugins overview",
                     "Phase throughput, errors and latency, circuit breakers, and each plugin's resources against its limits.", l, True)


def exporter_health():
    l = Layout()
    l.row("Scrapes and pushes")
    l.panel("stat", "Targets up", "Vigil endpoints Prometheus can scrape (up).", "short",
            [(f"sum(up{{{SEL}}})", "up")], width=6)
    l.panel("timeseries", "Scrape duration", "How long Prometheus takes to scrape each Vigil endpoint.", "s",
            [(f"max by (instance) (scrape_duration_seconds{{{SEL}}})", "{{instance}}")], width=18)
    l.panel("timeseries", "Pushes by result", "Pushes to the Pushgateway and to the OTLP collector, by result.", "ops",
            [(f"sum by (target, result) (rate(vigil_push_total{{{SEL}}}[$__rate_interval]))", "{{target}} {{result}}")], width=24)
    l.row("Spans")
    l.panel("timeseries", "Spans exported and dropped", "Spans delivered to the collector, and spans lost by reason.", "ops",
            [(f"sum(rate(vigil_spans_exported_total{{{SEL}}}[$__rate_interval]))", "exported"),
             (f"sum by (reason) (rate(vigil_spans_dropped_total{{{SEL}}}[$__rate_interval]))", "dropped: {{reason}}")])
    l.panel("timeseries", "Span queue length", "Spans waiting in the batch processor's queue.", "short",
            [(f"max by (instance) (vigil_span_queue_length{{{SEL}}})", "{{instance}}")])
    l.row("Sampling and the sidecar's own process")
    l.panel("timeseries", "Sampling errors", "Problems met while reading plugin processes from /proc, by reason.", "ops",
            [(f"sum by (plugin, reason) (rate(vigil_sample_errors_total{{{SEL}}}[$__rate_interval]))", "{{plugin}}: {{reason}}")])
    l.panel("timeseries", "Process CPU", "CPU seconds per second used by the Vigil process itself.", "short",
            [(f"sum by (instance) (rate(process_cpu_seconds_total{{{SEL}}}[$__rate_interval]))", "{{instance}}")])
    l.panel("timeseries", "Process memory", "Resident and virtual memory of the Vigil process.", "bytes",
            [(f"sum by (instance) (process_resident_memory_bytes{{{SEL}}})", "resident {{instance}}"),
             (f"sum by (instance) (process_virtual_memory_bytes{{{SEL}}})", "virtual {{instance}}")])
    l.panel("timeseries", "Process file descriptors and threads", "Open fds against the limit, and threads, of the Vigil process.", "short",
            [(f"sum by (instance) (process_open_fds{{{SEL}}})", "open fds {{instance}}"),
             (f"sum by (instance) (process_max_fds{{{SEL}}})", "max fds {{instance}}"),
             (f"sum by (instance) (process_threads{{{SEL}}})", "threads {{instance}}")])
    return dashboard("vigil-exporter-health", "Vigil / Exporter health",
                     "Is Vigil itself healthy: scrapes, pushes, span export, sampling, and its own process.", l, False)


here = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
for name, board in [("plugins-overview.json", plugins_overview()), ("exporter-health.json", exporter_health())]:
    (here / name).write_text(json.dumps(board, indent=2) + "\n")
    print(f"wrote dashboards/{name}: {sum(p['type'] != 'row' for p in board['panels'])} panels")
