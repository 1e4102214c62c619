import NIOCore

/// Answers 431 and closes when a request's head grows past the limit, before NIO parses it.
final class HeaderSizeLimiter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let limit: Int
    private var seen = 0
    private var inHead = true
    private var tail: [UInt8] = []

    init(limit: Int) { self.limit = limit }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if inHead {
            let bytes = buffer.readableBytesView
            seen += bytes.count
            // The head ends at the first blank line; scan the new bytes with the last three of before.
            let window = tail + bytes
            if let end = Self.findHeadEnd(window) {
                seen -= window.count - end
                inHead = false
            } else {
                tail = Array(window.suffix(3))
            }
            if seen > limit {
                let response = "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: response))).assumeIsolated()
                    .whenComplete { _ in context.close(promise: nil) }
                return
            }
        }
        context.fireChannelRead(data)
    }

    /// The offset just past the first `\r\n\r\n`, or nil when there is none yet.
    static func findHeadEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4) where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i + 4
        }
        return nil
    }
}
