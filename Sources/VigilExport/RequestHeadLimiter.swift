import NIOCore
import NIOTLS
import VigilSupport

/// Bounds every request head of a connection in size and in time, before NIO parses it, as Go's
/// `http.Server` does with `MaxHeaderBytes` and `ReadHeaderTimeout`:
///
/// - a head larger than `limit` gets 431 and a closed connection, on the first request and on
///   every later one of a keep-alive connection;
/// - a head not complete `timeout` after it began is closed (the first one begins when the
///   connection is accepted, later ones at their first byte), and so is a TLS handshake not
///   complete `handshakeTimeout` after accept. Either frees the connection's slot.
///
/// Between requests the idle timeout applies instead. It finds where a head ends (the first blank
/// line) and skips a body by its `Content-Length`; a chunked body is passed until the handler
/// tells `requestEnded()`.
final class RequestHeadLimiter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Which deadline closed a connection, for the metrics.
    enum Stage { case tlsHandshake, requestHead }

    let limit: Int
    let timeout: TimeAmount
    let handshakeTimeout: TimeAmount
    private let timedOut: (Stage) -> Void
    private var awaitingHandshake: Bool
    private var state = State.head
    /// The current head's bytes so far (at most `limit` + 1 of them).
    private var head: [UInt8] = []
    private var deadline: Scheduled<Void>?
    private var closed = false

    private enum State {
        case head
        /// Skipping a body: this many bytes, or (nil) until the handler says the request ended.
        case body(remaining: Int?)
    }

    /// - Parameters:
    ///   - tls: whether a TLS handler sits before this one (so the handshake comes first).
    ///   - timedOut: told when a deadline closes the connection.
    init(limit: Int, timeout: TimeAmount, handshakeTimeout: TimeAmount, tls: Bool, timedOut: @escaping (Stage) -> Void) {
        self.limit = limit
        self.timeout = timeout
        self.handshakeTimeout = handshakeTimeout
        self.awaitingHandshake = tls
        self.timedOut = timedOut
    }

    func handlerAdded(context: ChannelHandlerContext) {
        arm(context, awaitingHandshake ? .tlsHandshake : .requestHead)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if awaitingHandshake, let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            awaitingHandshake = false
            disarm()
            // The first head's time starts now, unless its bytes already came with the handshake.
            if case .head = state { arm(context, .requestHead) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// The handler has answered a request whose body this limiter could not measure (chunked):
    /// the next bytes are a head again.
    func requestEnded() {
        if case .body(nil) = state { state = .head }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closed else { return }
        let buffer = unwrapInboundIn(data)
        let bytes = buffer.readableBytesView
        var index = bytes.startIndex
        while index < bytes.endIndex {
            switch state {
            case .body(remaining: nil):
                index = bytes.endIndex
            case .body(remaining: let remaining?):
                let take = min(remaining, bytes.endIndex - index)
                index += take
                state = remaining - take == 0 ? .head : .body(remaining: remaining - take)
            case .head:
                if head.isEmpty, deadline == nil { arm(context, .requestHead) }
                while index < bytes.endIndex {
                    head.append(bytes[index])
                    index += 1
                    if head.count > limit { return tooLarge(context) }
                    if head.count >= 4, head[head.count - 4] == 13, head[head.count - 3] == 10, head[head.count - 2] == 13,
                       head[head.count - 1] == 10 {
                        state = Self.bodyAfter(head)
                        head.removeAll(keepingCapacity: true)
                        disarm()
                        break
                    }
                }
            }
        }
        context.fireChannelRead(data)
    }

    /// What follows a complete head: a body of `Content-Length` bytes, a chunked one, or (neither
    /// header, as on every scrape) the next head.
    private static func bodyAfter(_ head: [UInt8]) -> State {
        var length: Int?
        var chunked = false
        for line in head.split(separator: 10) {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = String(decoding: line[line.startIndex..<colon], as: UTF8.self).lowercased()
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmed(" \t\r")
            if name == "content-length" { length = Int(value) }
            if name == "transfer-encoding", value.lowercased() != "identity" { chunked = true }
        }
        if chunked { return .body(remaining: nil) }
        if let length, length > 0 { return .body(remaining: length) }
        return .head
    }

    private func tooLarge(_ context: ChannelHandlerContext) {
        closed = true
        disarm()
        let response = "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: response))).assumeIsolated()
            .whenComplete { _ in context.close(promise: nil) }
    }

    private func arm(_ context: ChannelHandlerContext, _ stage: Stage) {
        disarm()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: stage == .tlsHandshake ? handshakeTimeout : timeout) {
            let (limiter, context) = loopBound.value
            limiter.deadline = nil
            guard !limiter.closed else { return }
            limiter.closed = true
            limiter.timedOut(stage)
            context.close(promise: nil)
        }
    }

    private func disarm() {
        deadline?.cancel()
        deadline = nil
    }
}
