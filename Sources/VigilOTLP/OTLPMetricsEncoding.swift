import VigilSupport
import VigilTracing

/// Encodes `ExportMetricsServiceRequest` (opentelemetry-proto, collector/metrics/v1) as protobuf.
/// Field numbers are cited from metrics.proto; resource and scope are the envelope traces use.
/// Every Sum and Histogram is cumulative (`AGGREGATION_TEMPORALITY_CUMULATIVE` = 2).
public enum OTLPMetricsProtobuf {
    static let cumulative: UInt64 = 2

    /// One request holding `metrics`, all under `resource` and `scope`.
    public static func encode(_ metrics: [MetricData], resource: TelemetryResource, scope: InstrumentationScope = InstrumentationScope()) -> [UInt8] {
        OTLPEnvelope.protobuf(capacity: 512 + metrics.count * 256, resource: resource, scope: scope) { w in
            for metric in metrics { w.message(2) { encodeMetric(&$0, metric) } }  // ScopeMetrics.metrics = 2
        }
    }

    static func encodeMetric(_ w: inout ProtobufWriter, _ metric: MetricData) {
        w.string(1, metric.name, always: true)  // Metric.name = 1
        w.string(2, metric.description)  // Metric.description = 2
        w.string(3, metric.unit)  // Metric.unit = 3
        switch metric.kind {
        case .gauge:
            w.message(5) { w in  // Metric.gauge = 5 → Gauge.data_points = 1
                for point in metric.points { w.message(1) { numberPoint(&$0, point) } }
            }
        case .monotonicSum:
            w.message(7) { w in  // Metric.sum = 7
                for point in metric.points { w.message(1) { numberPoint(&$0, point) } }  // Sum.data_points = 1
                w.uint(2, cumulative)  // Sum.aggregation_temporality = 2
                w.uint(3, 1)  // Sum.is_monotonic = 3
            }
        case .histogram:
            w.message(9) { w in  // Metric.histogram = 9
                for point in metric.points { w.message(1) { histogramPoint(&$0, point) } }  // Histogram.data_points = 1
                w.uint(2, cumulative)  // Histogram.aggregation_temporality = 2
            }
        }
    }

    /// NumberDataPoint: attributes = 7, start_time_unix_nano = 2, time_unix_nano = 3,
    /// as_double = 4, exemplars = 5.
    static func numberPoint(_ w: inout ProtobufWriter, _ point: MetricPoint) {
        for label in point.attributes { w.message(7) { stringKeyValue(&$0, label) } }
        if point.startTimeUnixNano != 0 { w.fixed64(2, point.startTimeUnixNano) }
        w.fixed64(3, point.timeUnixNano)
        if case .number(let value) = point.value { w.double(4, value) }
        for exemplar in point.exemplars { w.message(5) { encodeExemplar(&$0, exemplar) } }
    }

    /// HistogramDataPoint: attributes = 9, start_time_unix_nano = 2, time_unix_nano = 3,
    /// count = 4, sum = 5, bucket_counts = 6 (packed fixed64), explicit_bounds = 7 (packed
    /// double), exemplars = 8.
    static func histogramPoint(_ w: inout ProtobufWriter, _ point: MetricPoint) {
        guard case let .histogram(count, sum, bounds, bucketCounts) = point.value else { return }
        for label in point.attributes { w.message(9) { stringKeyValue(&$0, label) } }
        if point.startTimeUnixNano != 0 { w.fixed64(2, point.startTimeUnixNano) }
        w.fixed64(3, point.timeUnixNano)
        w.fixed64(4, count)
        w.double(5, sum)
        w.packedFixed64(6, bucketCounts)
        w.packedFixed64(7, bounds.map(\.bitPattern))
        for exemplar in point.exemplars { w.message(8) { encodeExemplar(&$0, exemplar) } }
    }

    /// Exemplar: filtered_attributes = 7, time_unix_nano = 2, as_double = 3, span_id = 4, trace_id = 5.
    static func encodeExemplar(_ w: inout ProtobufWriter, _ e: MetricExemplar) {
        for label in e.filteredAttributes { w.message(7) { stringKeyValue(&$0, label) } }
        w.fixed64(2, e.timeUnixNano)
        w.double(3, e.value)
        if let span = e.spanID { w.bytesField(4, span) }
        if let trace = e.traceID { w.bytesField(5, trace) }
    }

    static func stringKeyValue(_ w: inout ProtobufWriter, _ label: MetricPoint.Label) {
        OTLPProtobuf.keyValue(&w, Attribute(label.name, .string(label.value)))
    }
}

/// Encodes `ExportMetricsServiceRequest` as OTLP/JSON: lowerCamelCase keys, enums as integers,
/// 64-bit integers as decimal strings, ids as hex (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding).
public enum OTLPMetricsJSON {
    /// One request holding `metrics`, all under `resource` and `scope`, on one line.
    public static func encode(_ metrics: [MetricData], resource: TelemetryResource, scope: InstrumentationScope = InstrumentationScope()) -> [UInt8] {
        OTLPEnvelope.json(kind: "Metrics", itemsKey: "metrics", resource: resource, scope: scope) { $0.list(metrics, encodeMetric) }
    }

    static func encodeMetric(_ out: inout JSONWriter, _ metric: MetricData) {
        out.raw("{\"name\":")
        out.string(metric.name)
        out.raw(",\"description\":")
        out.string(metric.description)
        out.raw(",\"unit\":")
        out.string(metric.unit)
        switch metric.kind {
        case .gauge:
            out.raw(",\"gauge\":{\"dataPoints\":")
            out.list(metric.points, numberPoint)
            out.raw("}}")
        case .monotonicSum:
            out.raw(",\"sum\":{\"dataPoints\":")
            out.list(metric.points, numberPoint)
            out.raw(",\"aggregationTemporality\":\(OTLPMetricsProtobuf.cumulative),\"isMonotonic\":true}}")
        case .histogram:
            out.raw(",\"histogram\":{\"dataPoints\":")
            out.list(metric.points, histogramPoint)
            out.raw(",\"aggregationTemporality\":\(OTLPMetricsProtobuf.cumulative)}}")
        }
    }

    static func times(_ out: inout JSONWriter, _ point: MetricPoint) {
        out.raw("{\"attributes\":")
        out.attributes(point.attributes.map { Attribute($0.name, .string($0.value)) })
        if point.startTimeUnixNano != 0 { out.raw(",\"startTimeUnixNano\":\"\(point.startTimeUnixNano)\"") }
        out.raw(",\"timeUnixNano\":\"\(point.timeUnixNano)\"")
    }

    static func numberPoint(_ out: inout JSONWriter, _ point: MetricPoint) {
        times(&out, point)
        if case .number(let value) = point.value {
            out.raw(",\"asDouble\":")
            out.double(value)
        }
        exemplars(&out, point)
        out.raw("}")
    }

    static func histogramPoint(_ out: inout JSONWriter, _ point: MetricPoint) {
        guard case let .histogram(count, sum, bounds, bucketCounts) = point.value else { return }
        times(&out, point)
        out.raw(",\"count\":\"\(count)\",\"sum\":")
        out.double(sum)
        out.raw(",\"bucketCounts\":")
        out.list(bucketCounts) { out, n in out.raw("\"\(n)\"") }
        out.raw(",\"explicitBounds\":")
        out.list(bounds) { out, bound in out.double(bound) }
        exemplars(&out, point)
        out.raw("}")
    }

    static func exemplars(_ out: inout JSONWriter, _ point: MetricPoint) {
        guard !point.exemplars.isEmpty else { return }
        out.raw(",\"exemplars\":")
        out.list(point.exemplars) { out, e in
            out.raw("{\"filteredAttributes\":")
            out.attributes(e.filteredAttributes.map { Attribute($0.name, .string($0.value)) })
            out.raw(",\"timeUnixNano\":\"\(e.timeUnixNano)\",\"asDouble\":")
            out.double(e.value)
            if let span = e.spanID { out.raw(",\"spanId\":\"\(Hex.encode(span))\"") }
            if let trace = e.traceID { out.raw(",\"traceId\":\"\(Hex.encode(trace))\"") }
            out.raw("}")
        }
    }

}
