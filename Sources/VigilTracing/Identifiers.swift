import VigilSupport
import Synchronization

/// A 16-byte trace id. All-zero is invalid (W3C Trace Context §3.2.2.3).
public struct TraceID: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public var isValid: Bool { high != 0 || low != 0 }

    /// A fresh random id, never all-zero.
    public static func random() -> TraceID {
        while true {
            let id = TraceID(high: IDGenerator.next(), low: IDGenerator.next())
            if id.isValid { return id }
        }
    }

    /// 32 lowercase hex digits.
    public var description: String { Hex.encode(high) + Hex.encode(low) }

    /// Parses 32 lowercase hex digits.
    public init?<S: StringProtocol>(hex: S) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 32, let high = Hex.decode(utf8[0..<16]), let low = Hex.decode(utf8[16..<32]) else { return nil }
        self.init(high: high, low: low)
    }

    /// The 16 bytes, big-endian, as OTLP carries them.
    public var bytes: [UInt8] { Hex.bigEndianBytes(high) + Hex.bigEndianBytes(low) }
}

/// An 8-byte span id. All-zero is invalid.
public struct SpanID: Hashable, Sendable, CustomStringConvertible {
    public var value: UInt64

    public init(_ value: UInt64) { self.value = value }

    public var isValid: Bool { value != 0 }

    public static func random() -> SpanID {
        while true {
            let id = SpanID(IDGenerator.next())
            if id.isValid { return id }
        }
    }

    /// 16 lowercase hex digits.
    public var description: String { Hex.encode(value) }

    public init?<S: StringProtocol>(hex: S) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 16, let value = Hex.decode(utf8[...]) else { return nil }
        self.init(value)
    }

    public var bytes: [UInt8] { Hex.bigEndianBytes(value) }
}

/// SplitMix64 over an atomic counter, seeded once from the system's random source: one atomic
/// add per span (for a root span's trace id and span id together), no lock, no system call. Its
/// output passes BigCrush; ids need to be unique and unpredictable enough to sample on, not
/// secret.
enum IDGenerator {
    private static let state = Atomic<UInt64>(seed())
    private static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15

    private static func seed() -> UInt64 {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }

    @inline(__always)
    static func next() -> UInt64 {
        mix(state.wrappingAdd(gamma, ordering: .relaxed).newValue)
    }

    /// A new trace id and span id from one atomic add.
    @inline(__always)
    static func nextTraceAndSpan() -> (TraceID, SpanID) {
        let base = state.wrappingAdd(gamma &* 3, ordering: .relaxed).newValue
        let trace = TraceID(high: mix(base &- gamma &* 2), low: mix(base &- gamma))
        let span = SpanID(mix(base))
        // All-zero ids are invalid; SplitMix64 yields zero once in 2^64 draws.
        guard trace.isValid, span.isValid else { return (TraceID.random(), SpanID.random()) }
        return (trace, span)
    }

    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
