// The cost of tracing: starting and ending spans, and encoding and compressing batches.
import Benchmark
import Vigil

/// Takes batches and throws them away, so that only the span path is measured.
struct DiscardingExporter: SpanExporter {
    func export(_ batch: [SpanData]) async -> SpanExportResult { .success }
    func shutdown() async {}
}

func makeTracer() -> Tracer {
    var config = BatchSpanProcessor.Configuration()
    config.maxQueueSize = 1 << 20
    config.maxExportBatchSize = 512
    config.scheduleDelay = .milliseconds(100)
    return Tracer(resource: TelemetryResource.detect(serviceName: "bench"),
                  processor: BatchSpanProcessor(exporter: DiscardingExporter(), configuration: config))
}

func makeBatch(_ count: Int) -> [SpanData] {
    let tracer = Tracer(resource: TelemetryResource(attributes: []), processor: BatchSpanProcessor(exporter: DiscardingExporter()))
    return (0..<count).map { i in
        let span = tracer.startSpan("phase-\(i % 8)", kind: .internal, attributes: [
            Attribute("vigil.plugin", .string("plugin-\(i % 16)")), Attribute("vigil.phase", .string("phase-\(i % 8)")),
            Attribute("items", .int(Int64(i))),
        ])
        span.end()
        return span.snapshot
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(3))

    Benchmark("span start + end, 2 attributes", configuration: .init(scalingFactor: .kilo)) { benchmark, tracer in
        for _ in benchmark.scaledIterations {
            let span = tracer.startSpan("phase", attributes: [Attribute("vigil.plugin", "ocr"), Attribute("vigil.phase", "tokenize")])
            span.end()
        }
    } setup: {
        makeTracer()
    }

    Benchmark("parent with one child", configuration: .init(scalingFactor: .kilo)) { benchmark, tracer in
        for _ in benchmark.scaledIterations {
            tracer.withSpan("plugin") { _ in
                tracer.withSpan("phase") { _ in }
            }
        }
    } setup: {
        makeTracer()
    }

    Benchmark("OTLP protobuf encoding, 512 spans", configuration: .init(metrics: [.wallClock, .mallocCountTotal, .throughput])) { benchmark, batch in
        for _ in benchmark.scaledIterations {
            blackHole(OTLPProtobuf.encode(batch, resource: TelemetryResource.detect(serviceName: "bench")))
        }
    } setup: {
        makeBatch(512)
    }

    Benchmark("OTLP protobuf encode + gzip, 512 spans") { benchmark, batch in
        for _ in benchmark.scaledIterations {
            blackHole(try Gzip.compress(OTLPProtobuf.encode(batch, resource: TelemetryResource.detect(serviceName: "bench"))))
        }
    } setup: {
        let batch = makeBatch(512)
        let plain = OTLPProtobuf.encode(batch, resource: TelemetryResource.detect(serviceName: "bench"))
        let compressed = try Gzip.compress(plain)
        print("512-span batch: \(plain.count) bytes of protobuf, \(compressed.count) bytes gzipped")
        return batch
    }
}
