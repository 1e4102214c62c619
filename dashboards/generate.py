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

    def panel(self, kind, title, description, unit, targets, width=12, exemplars=False, links=None, **extra):
        """A panel; with `exemplars`, its queries also ask Prometheus for exemplars (which needs
        --enable-feature=exemplar-storage and an OpenMetrics scrape, see config/prometheus.yml);
        `links` are data links on its series (a node's drill-down)."""
        if self.x + width > 24:
            self.x, self.y = 0, self.y + 8
        panel = {"type": kind, "title": title, "description": description, "id": self.next_id, "datasource": DS,
                 "gridPos": {"h": 8, "w": width, "x": self.x, "y": self.y},
                 "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                 "targets": [{"refId": chr(65 + i), "datasource": DS, "expr": expr, "legendFormat": legend, **({"format": "heatmap"} if kind == "heatmap" else {}), **({"exemplar": True} if exemplars else {})}
                             for i, (expr, legend) in enumerate(targets)]}
        if links:
            panel["fieldConfig"]["defaults"]["links"] = links
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


# Panels whose figures are totals over the nodes selected say so with this phrase: a total where
# one means something (executions, errors, CPU seconds, bytes). Every other panel shows figures of
# one node each (per-node lines, the worst nodes with topk, per-node ratios) or a ratio or
# quantile of sums, none of which can exceed the largest single node's; scripts/fleet checks it.
TOTAL = "Summed over the selected nodes."
# Fleet panels read the job-level recording rules (alerts/vigil-recording.yml): every node of the
# job, whatever the instance selection.
FLEET = "Every node of the job, whatever the instance selection (recording rules in alerts/vigil-recording.yml)."
JSEL = 'job=~"$job", plugin=~"$plugin"'
JPHSEL = JSEL + ', phase=~"$phase"'


def drill_down(uid, slug):
    """A data link from any series with an instance label to the same dashboard on that node."""
    return [{"title": "Open ${__field.labels.instance}",
                       "url": f"/d/{uid}/{slug}?var-job=${{__field.labels.job}}&var-instance=${{__field.labels.instance}}&${{__url_time_range}}&${{datasource:queryparam}}"}]


def plugins_overview():
    l = Layout()
    node = drill_down("vigil-plugins-overview", "vigil-plugins-overview")
    l.row("Fleet (recording rules)")
    l.panel("timeseries", "Executions across the fleet", "Phase executions per second on every node together. " + FLEET, "ops",
            [(f"sum by (plugin, phase) (job_plugin_phase:vigil_phase_executions:rate5m{{{JPHSEL}}})", "{{plugin}} / {{phase}}")], width=6)
    l.panel("timeseries", "Error ratio across the fleet", "Errors over executions of every node together: a weighted mean of the nodes' ratios. " + FLEET, "percentunit",
            [(f"max by (plugin, phase) (job_plugin_phase:vigil_phase_error_ratio:rate5m{{{JPHSEL}}})", "{{plugin}} / {{phase}}")], width=6)
    l.panel("timeseries", "Latency across the fleet (p50, p90, p99)", "Quantiles of the fleet's phase durations, from the buckets summed over nodes. " + FLEET, "s",
            [(f"max by (plugin, phase, quantile) (job_plugin_phase:vigil_phase_duration_seconds:quantile_rate5m{{{JPHSEL}}})", "p{{quantile}} {{plugin}} / {{phase}}")], width=6)
    l.panel("timeseries", "Worst node against its own limit", "The highest use of each limit on any one node, that node's usage over that node's limit (1 is at the limit). " + FLEET, "percentunit",
            [(f"max by (plugin, resource) (job_plugin_resource:vigil_plugin_usage:max_ratio{{{JSEL}}})", "{{plugin}} {{resource}}")], width=6)
    l.row("Phases")
    l.panel("timeseries", "Phase throughput", "Phase executions per second, finished or failed. " + TOTAL, "ops",
            [(f"sum by (plugin, phase) (instance_plugin_phase:vigil_phase_executions:rate5m{{{PHSEL}}})", "{{plugin}} / {{phase}}")])
    l.panel("timeseries", "Phase error ratio", "Share of executions that threw, by phase: errors over executions of the selected nodes together.", "percentunit",
            [(f"sum by (plugin, phase) (instance_plugin_phase:vigil_phase_errors:rate5m{{{PHSEL}}}) / sum by (plugin, phase) (instance_plugin_phase:vigil_phase_executions:rate5m{{{PHSEL}}})", "{{plugin}} / {{phase}}")])
    l.panel("timeseries", "Phase latency (p50, p90, p99)", "Quantiles of vigil_phase_duration_seconds from the selected nodes' buckets summed; its exemplars (the dots) name the trace_id of a phase that took that long.", "s",
            [(f"histogram_quantile({q}, sum by (le, plugin, phase) (rate(vigil_phase_duration_seconds_bucket{{{PHSEL}}}[$__rate_interval])))", f"p{int(q*100)} {{{{plugin}}}} / {{{{phase}}}}") for q in (0.5, 0.9, 0.99)],
            exemplars=True)
    l.panel("heatmap", "Phase duration heatmap", "How phase durations spread over the histogram's buckets. " + TOTAL, "s",
            [(f"sum by (le) (instance_plugin_phase_le:vigil_phase_duration_seconds_bucket:rate5m{{{PHSEL}}})", "{{le}}")],
            options={"calculate": False, "yAxis": {"unit": "s"}, "cellGap": 1})
    l.panel("timeseries", "Phases in flight, busiest nodes", "Executions running now (vigil_phase_in_flight) on the five busiest nodes of each phase.", "short",
            [(f"topk by (plugin, phase) (5, sum by (job, instance, plugin, phase) (vigil_phase_in_flight{{{PHSEL}}}))", "{{instance}} {{plugin}} / {{phase}}")], width=24,
            links=node)
    l.row("Circuit breakers")
    l.panel("state-timeline", "Breaker state", "The current state of each breaker on each node: closed, open or half-open.", "short",
            [(f"max by (job, instance, plugin, breaker, state) (vigil_breaker_state{{{PSEL}}}) == 1", "{{instance}} {{plugin}} / {{breaker}}: {{state}}")],
            links=node)
    l.panel("timeseries", "Breaker trips and rejected calls", "Moves into the open state, and calls refused while open, on each node.", "short",
            [(f"sum by (job, instance, plugin, breaker) (increase(vigil_breaker_trips_total{{{PSEL}}}[$__rate_interval]))", "trips {{instance}} {{plugin}} / {{breaker}}"),
             (f"sum by (job, instance, plugin, breaker) (increase(vigil_breaker_rejected_calls_total{{{PSEL}}}[$__rate_interval]))", "rejected {{instance}} {{plugin}} / {{breaker}}")],
            links=node)
    l.row("Resources against limits (per node: the worst five of each plugin)")
    l.panel("timeseries", "Worst nodes: usage against their own limit", "Each node's use of each limit of each plugin, over that node's own limit (1 is at the limit), the five highest per plugin and resource (instance_plugin_resource:vigil_plugin_usage:ratio).", "percentunit",
            [(f"topk by (plugin, resource) (5, instance_plugin_resource:vigil_plugin_usage:ratio{{{PSEL}}})", "{{instance}} {{plugin}} {{resource}}")], width=24,
            links=node)
    def worst(title, description, unit, usage, resource, legend):
        top = f"topk by (plugin) (5, {usage})"
        l.panel("timeseries", title, description, unit,
                [(top, "{{instance}} " + legend),
                 (f'max by (job, instance, plugin) (vigil_plugin_limit{{{PSEL}, resource="{resource}"}}) and on (job, instance, plugin) {top}', "limit {{instance}} {{plugin}}")],
                links=node)
    worst("Resident memory, worst nodes, and their limits", "Resident memory of each plugin's processes on the five nodes where it is highest, each with that node's limit.", "bytes",
          f"max by (job, instance, plugin) (vigil_plugin_resident_memory_bytes{{{PSEL}}})", "memory_bytes", "{{plugin}}")
    worst("CPU (cores), worst nodes, and their limits", "CPU seconds per second of each plugin on the five nodes where it is highest, each with that node's cpu_ratio limit; 1 is one core.", "short",
          f"sum by (job, instance, plugin) (rate(vigil_plugin_cpu_seconds_total{{{PSEL}}}[$__rate_interval]))", "cpu_ratio", "{{plugin}}")
    worst("Open file descriptors, worst nodes, and their limits", "Open fds of each plugin's processes on the five nodes where they are most, each with that node's limit.", "short",
          f"max by (job, instance, plugin) (vigil_plugin_open_fds{{{PSEL}}})", "open_fds", "{{plugin}}")
    worst("Threads, worst nodes, and their limits", "Threads of each plugin's processes on the five nodes where they are most, each with that node's limit.", "short",
          f"max by (job, instance, plugin) (vigil_plugin_threads{{{PSEL}}})", "threads", "{{plugin}}")
    l.panel("timeseries", "CPU (cores) of each plugin", "CPU seconds per second each plugin uses. " + TOTAL, "short",
            [(f"sum by (plugin) (rate(vigil_plugin_cpu_seconds_total{{{PSEL}}}[$__rate_interval]))", "{{plugin}}")])
    l.panel("timeseries", "Nearest process to its fd limit", "The highest open fds / soft fd limit of any one process of each plugin (vigil_plugin_worst_fd_ratio), on the five nodes where it is highest: 1 is a process out of file descriptors. A sum of fds over processes against one process's limit would mislead.", "percentunit",
            [(f"topk by (plugin) (5, max by (job, instance, plugin) (vigil_plugin_worst_fd_ratio{{{PSEL}}}))", "{{instance}} {{plugin}}")],
            links=node)
    l.panel("state-timeline", "Limits exceeded", "1 while a plugin is over a limit on a node (vigil_plugin_limit_exceeded); the nodes over come first, five per plugin and resource.", "short",
            [(f"topk by (plugin, resource) (5, max by (job, instance, plugin, resource) (vigil_plugin_limit_exceeded{{{PSEL}}}))", "{{instance}} {{plugin}} / {{resource}}")],
            links=node)
    l.panel("timeseries", "Limit violations", "Moves of a plugin into violation of a limit, on the five nodes with most per plugin and resource.", "short",
            [(f"topk by (plugin, resource) (5, sum by (job, instance, plugin, resource) (increase(vigil_plugin_limit_violations_total{{{PSEL}}}[$__rate_interval])))", "{{instance}} {{plugin}} / {{resource}}")],
            links=node)
    l.row("Memory, I/O and scheduling")
    l.panel("timeseries", "Proportional and swapped memory, worst nodes", "PSS (shared pages divided among their users) and swap of each plugin's processes, from smaps_rollup, on the five nodes where each is highest; only plugins with smaps: true.", "bytes",
            [(f"topk by (plugin) (5, max by (job, instance, plugin) (vigil_plugin_proportional_memory_bytes{{{PSEL}}}))", "PSS {{instance}} {{plugin}}"),
             (f"topk by (plugin) (5, max by (job, instance, plugin) (vigil_plugin_swap_bytes{{{PSEL}}}))", "swap {{instance}} {{plugin}}")],
            links=node)
    l.panel("timeseries", "Storage I/O", "Bytes per second the plugin's processes read from and wrote to storage (read_bytes, write_bytes of /proc/<pid>/io). " + TOTAL, "Bps",
            [(f"sum by (plugin, direction) (rate(vigil_plugin_io_bytes_total{{{PSEL}}}[$__rate_interval]))", "{{plugin}} {{direction}}")])
    l.panel("timeseries", "Context switches", "Context switches per second of the plugin's processes' main threads; involuntary ones mean the CPU was taken away. " + TOTAL, "ops",
            [(f"sum by (plugin, type) (rate(vigil_plugin_context_switches_total{{{PSEL}}}[$__rate_interval]))", "{{plugin}} {{type}}")])
    l.panel("timeseries", "Major page faults", "Page faults per second that had to read from disk: memory pressure or a cold start. " + TOTAL, "ops",
            [(f"sum by (plugin) (rate(vigil_plugin_major_page_faults_total{{{PSEL}}}[$__rate_interval]))", "{{plugin}}")])
    l.row("Cgroup (plugins matched by cgroup, cgroup v2)")
    l.panel("timeseries", "Cgroup memory and memory.max, worst nodes", "Memory charged to each plugin's cgroup on the five nodes where it is highest, each with that node's memory.max (absent when unlimited).", "bytes",
            [(f"topk by (plugin) (5, max by (job, instance, plugin) (vigil_plugin_cgroup_memory_bytes{{{PSEL}}}))", "{{instance}} {{plugin}}"),
             (f"max by (job, instance, plugin) (vigil_plugin_cgroup_memory_limit_bytes{{{PSEL}}}) and on (job, instance, plugin) topk by (plugin) (5, max by (job, instance, plugin) (vigil_plugin_cgroup_memory_bytes{{{PSEL}}}))", "memory.max {{instance}} {{plugin}}")],
            links=node)
    l.panel("timeseries", "CPU throttling, worst nodes", "Seconds per second each plugin's cgroup was held back by its cpu.max on the five nodes where it is most, each with that node's limit in cores.", "short",
            [(f"topk by (plugin) (5, sum by (job, instance, plugin) (rate(vigil_plugin_cgroup_cpu_throttled_seconds_total{{{PSEL}}}[$__rate_interval])))", "throttled {{instance}} {{plugin}}"),
             (f"max by (job, instance, plugin) (vigil_plugin_cgroup_cpu_limit_cores{{{PSEL}}}) and on (job, instance, plugin) topk by (plugin) (5, sum by (job, instance, plugin) (rate(vigil_plugin_cgroup_cpu_throttled_seconds_total{{{PSEL}}}[$__rate_interval])))", "cpu.max cores {{instance}} {{plugin}}")],
            links=node)
    l.panel("timeseries", "OOM kills", "Processes of each plugin's cgroup the kernel killed for going over memory.max. " + TOTAL, "short",
            [(f"sum by (plugin) (increase(vigil_plugin_cgroup_oom_kills_total{{{PSEL}}}[$__rate_interval]))", "{{plugin}}")], width=24)
    l.row("Plugins coming and going")
    l.panel("table", "Loaded plugins", "Each loaded plugin, its version, on how many nodes, and when it was last loaded on any (vigil_plugin_info, vigil_plugin_start_time_seconds).", "dateTimeAsIso",
            [(f"max by (plugin, version) (vigil_plugin_info{{{PSEL}}}) * on (plugin) group_left max by (plugin) (vigil_plugin_start_time_seconds{{{PSEL}}}) * 1000", "{{plugin}} {{version}}")],
            options={"showHeader": True})
    l.panel("timeseries", "Process starts and exits", "Processes that joined or left each plugin, exits by reason (exited, failed, a signal, unknown): a crash loop shows here first. " + TOTAL, "short",
            [(f"sum by (plugin) (increase(vigil_plugin_process_starts_total{{{PSEL}}}[$__rate_interval]))", "starts {{plugin}}"),
             (f"sum by (plugin, reason) (increase(vigil_plugin_process_exits_total{{{PSEL}}}[$__rate_interval]))", "exits {{plugin}}: {{reason}}")])
    l.panel("timeseries", "Limit actions", "Signals sent, breakers held open, and dry runs, because a plugin stayed over a limit (vigil_plugin_limit_actions_total). " + TOTAL, "short",
            [(f"sum by (plugin, resource, action) (increase(vigil_plugin_limit_actions_total{{{PSEL}}}[$__rate_interval]))", "{{plugin}} / {{resource}}: {{action}}")], width=24)
    return dashboard("vigil-plugins-overview", "Vigil / Plugins overview",
                     "Phase throughput, errors and latency, circuit breakers, and each plugin's resources against its limits: across the fleet from recording rules, the worst nodes per plugin, and each node (pick an instance, or follow a series' link).", l, True)


def exporter_health():
    l = Layout()
    node = drill_down("vigil-exporter-health", "vigil-exporter-health")
    l.row("The fleet's exporters")
    l.panel("stat", "Targets up", "Vigil endpoints Prometheus can scrape (up): the number of nodes answering. " + TOTAL, "short",
            [(f"sum(up{{{SEL}}})", "up")], width=4)
    l.panel("stat", "Targets down", "Vigil endpoints that did not answer their last scrape. " + TOTAL, "short",
            [(f"count(up{{{SEL}}} == 0) or vector(0)", "down")], width=4)
    l.panel("timeseries", "Scrape duration, slowest nodes", "How long Prometheus takes to scrape each Vigil endpoint: the ten slowest.", "s",
            [(f"topk(10, max by (job, instance) (scrape_duration_seconds{{{SEL}}}))", "{{instance}}")], width=16, links=node)
    l.panel("timeseries", "Series per node, largest nodes", "Samples each scrape carries (scrape_samples_scraped), the ten largest nodes: what each node costs the Prometheus that stores it.", "short",
            [(f"topk(10, max by (job, instance) (scrape_samples_scraped{{{SEL}}}))", "{{instance}}")], links=node)
    l.panel("timeseries", "Largest families", "Series each family carries on the node where it has most (vigil_exported_series), the ten largest families: what to leave out (exclude_families) or cap (max_series_per_family) first.", "short",
            [(f"topk(10, max by (family) (vigil_exported_series{{{SEL}}}))", "{{family}}")])
    l.row("Scrapes and pushes")
    l.panel("timeseries", "Pushes by result", "Pushes to the Pushgateway and to the OTLP collector, by result. " + TOTAL, "ops",
            [(f"sum by (target, result) (rate(vigil_push_total{{{SEL}}}[$__rate_interval]))", "{{target}} {{result}}")], width=24)
    l.row("Spans")
    l.panel("timeseries", "Spans exported and dropped", "Spans delivered to the collector, and spans lost by reason. " + TOTAL, "ops",
            [(f"sum(rate(vigil_spans_exported_total{{{SEL}}}[$__rate_interval]))", "exported"),
             (f"sum by (reason) (rate(vigil_spans_dropped_total{{{SEL}}}[$__rate_interval]))", "dropped: {{reason}}")])
    l.panel("timeseries", "Span queue length", "Spans waiting in the batch processor's queue, on the ten nodes with most.", "short",
            [(f"topk(10, max by (job, instance) (vigil_span_queue_length{{{SEL}}}))", "{{instance}}")], links=node)
    l.row("Sampling and the sidecar's own process")
    l.panel("timeseries", "Sampling errors", "Problems met while reading plugin processes from /proc, by reason. " + TOTAL, "ops",
            [(f"sum by (plugin, reason) (rate(vigil_sample_errors_total{{{SEL}}}[$__rate_interval]))", "{{plugin}}: {{reason}}")])
    l.panel("timeseries", "Process CPU", "CPU seconds per second used by the Vigil process itself, on the ten nodes where it uses most.", "short",
            [(f"topk(10, sum by (job, instance) (rate(process_cpu_seconds_total{{{SEL}}}[$__rate_interval])))", "{{instance}}")], links=node)
    l.panel("timeseries", "Process memory", "Resident and virtual memory of the Vigil process, on the ten nodes where it is largest.", "bytes",
            [(f"topk(10, max by (job, instance) (process_resident_memory_bytes{{{SEL}}}))", "resident {{instance}}"),
             (f"topk(10, max by (job, instance) (process_virtual_memory_bytes{{{SEL}}}))", "virtual {{instance}}")], links=node)
    l.panel("timeseries", "Process file descriptors and threads", "Open fds against the limit, and threads, of the Vigil process, on the ten nodes with most open fds.", "short",
            [(f"topk(10, max by (job, instance) (process_open_fds{{{SEL}}}))", "open fds {{instance}}"),
             (f"max by (job, instance) (process_max_fds{{{SEL}}}) and on (job, instance) topk(10, max by (job, instance) (process_open_fds{{{SEL}}}))", "max fds {{instance}}"),
             (f"topk(10, max by (job, instance) (process_threads{{{SEL}}}))", "threads {{instance}}")], links=node)
    return dashboard("vigil-exporter-health", "Vigil / Exporter health",
                     "Is Vigil itself healthy across the fleet: targets up, scrape time and series by node, pushes, span export, sampling, and its own process.", l, False)


here = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
for name, board in [("plugins-overview.json", plugins_overview()), ("exporter-health.json", exporter_health())]:
    (here / name).write_text(json.dumps(board, indent=2) + "\n")
    print(f"wrote dashboards/{name}: {sum(p['type'] != 'row' for p in board['panels'])} panels")
