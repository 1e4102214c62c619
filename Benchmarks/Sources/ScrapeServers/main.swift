// Two scrape servers for the wrk load test (Benchmarks/scrape-load): Vigil's MetricsServer, and
// the bare-minimum peer: swift-prometheus' registry rendered by a plain NIO HTTP handler.
// usage: ScrapeServers vigil|peer PORT SERIES
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import Vigil

let args = CommandLine.arguments
guard args.count == 4, let port = Int(args[2]), let series = Int(args[3]) else {
    print("usage: ScrapeServers vigil|peer PORT SERIES")
    exit(2)
}

final class PeerHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let registry: PrometheusCollectorRegistry
    var keepAlive = true
    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): keepAlive = head.isKeepAlive
        case .body: break
        case .end:
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
            headers.add(name: "Content-Length", value: String(buffer.count))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: buffer)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
if args[1] == "vigil" {
    let registry = Vigil.Registry(defaultSeriesLimit: 1_000_000)
    for f in 0..<10 {
        let family = try registry.counter("family_\(f)_total", help: "Family \(f).", labelNames: ["plugin", "phase"])
        for s in 0..<(series / 10) { family.labels("plugin-\(s % 100)", "phase-\(s)").inc(by: s) }
    }
    var config = MetricsServer.Configuration()
    config.port = port
    config.maxConnections = 256
    _ = try await MetricsServer.start(registry: registry, configuration: config, group: group)
} else {
    let registry = PrometheusCollectorRegistry()
    for f in 0..<10 {
        for s in 0..<(series / 10) {
            registry.makeCounter(name: "family_\(f)_total", labels: [("plugin", "plugin-\(s % 100)"), ("phase", "phase-\(s)")]).increment(by: Int64(s))
        }
    }
    _ = try await ServerBootstrap(group: group)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                try channel.pipeline.syncOperations.addHandler(PeerHandler(registry: registry))
            }
        }
        .bind(host: "127.0.0.1", port: port).get()
}
print("ready")
try await Task.sleep(for: .seconds(3600))

