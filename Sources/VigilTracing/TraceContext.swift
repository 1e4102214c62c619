import VigilSupport
/// What travels with a request: the trace and span ids, the sampled flag and the vendors'
/// trace state (W3C Trace Context Level 1).
public struct SpanContext: Hashable, Sendable {
    public var traceID: TraceID
    public var spanID: SpanID
    /// Bit 0 is "sampled"; the other bits are passed on untouched.
    public var traceFlags: UInt8
    public var traceState: TraceState
    /// Whether the context came from another process.
    public var isRemote: Bool

    public init(traceID: TraceID, spanID: SpanID, traceFlags: UInt8 = 1, traceState: TraceState = TraceState(), isRemote: Bool = false) {
        self.traceID = traceID
        self.spanID = spanID
        self.traceFlags = traceFlags
        self.traceState = traceState
        self.isRemote = isRemote
    }

    public var isSampled: Bool { traceFlags & 1 == 1 }
    public var isValid: Bool { traceID.isValid && spanID.isValid }
}

/// The `tracestate` header: up to 32 `key=value` members, newest first (W3C §3.3).
public struct TraceState: Hashable, Sendable, CustomStringConvertible {
    public private(set) var members: [(key: String, value: String)]

    public static let maximumMembers = 32

    public init() { members = [] }

    /// Parses a header value. Invalid members make the whole header invalid (nil), as §3.3.1.3
    /// allows; empty list members are skipped.
    public init?(header: String) {
        var members: [(key: String, value: String)] = []
        var keys = Set<String>()
        for raw in header.split(separator: ",", omittingEmptySubsequences: false) {
            let member = String(raw.trimmed())
            if member.isEmpty { continue }
            guard let eq = member.firstIndex(of: "=") else { return nil }
            let key = String(member[..<eq])
            let value = String(member[member.index(after: eq)...])
            guard Self.isValidKey(key), Self.isValidValue(value), keys.insert(key).inserted else { return nil }
            members.append((key, value))
        }
        guard members.count <= Self.maximumMembers else { return nil }
        self.members = members
    }

    public subscript(key: String) -> String? {
        members.first { $0.key == key }?.value
    }

    /// Adds or updates a member, moving it to the front as §3.5 requires; the oldest member
    /// goes when there are more than 32. Returns false when the key or value is invalid.
    @discardableResult
    public mutating func set(_ key: String, _ value: String) -> Bool {
        guard Self.isValidKey(key), Self.isValidValue(value) else { return false }
        members.removeAll { $0.key == key }
        members.insert((key, value), at: 0)
        if members.count > Self.maximumMembers { members.removeLast() }
        return true
    }

    public var description: String { members.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }

    /// `simple-key = lcalpha 0*255(lcalpha / DIGIT / "_" / "-"/ "*" / "/")`, or
    /// `tenant-id "@" system-id` (§3.3.1.3.1).
    static func isValidKey(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        func allowed(_ b: UInt8) -> Bool {
            (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x5F || b == 0x2D || b == 0x2A || b == 0x2F
        }
        if let at = bytes.firstIndex(of: UInt8(ascii: "@")) {
            let tenant = bytes[..<at]
            let system = bytes[(at + 1)...]
            guard !tenant.isEmpty, tenant.count <= 241, let first = tenant.first,
                  (first >= 0x61 && first <= 0x7A) || (first >= 0x30 && first <= 0x39),
                  tenant.allSatisfy(allowed),
                  !system.isEmpty, system.count <= 14, let s = system.first, s >= 0x61 && s <= 0x7A,
                  system.allSatisfy(allowed)
            else { return false }
            return true
        }
        guard !bytes.isEmpty, bytes.count <= 256, let first = bytes.first, first >= 0x61 && first <= 0x7A else { return false }
        return bytes.allSatisfy(allowed)
    }

    /// `value = 0*255(chr) nblk-chr`, chr printable ASCII 0x20–0x7E but `,` and `=`, not ending
    /// in a space.
    static func isValidValue(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard !bytes.isEmpty, bytes.count <= 256, bytes.last != 0x20 else { return false }
        return bytes.allSatisfy { $0 >= 0x20 && $0 <= 0x7E && $0 != 0x2C && $0 != 0x3D }
    }

    public static func == (a: TraceState, b: TraceState) -> Bool {
        a.members.elementsEqual(b.members) { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for m in members {
            hasher.combine(m.key)
            hasher.combine(m.value)
        }
    }
}

/// Reading and writing the `traceparent` and `tracestate` headers (W3C Trace Context Level 1).
public enum W3CTraceContext {
    public static let traceparentHeader = "traceparent"
    public static let tracestateHeader = "tracestate"

    /// Parses `traceparent`: `version-traceid-parentid-flags`, lowercase hex. Version `ff`, an
    /// all-zero id, or a malformed field gives nil. A version above 00 is parsed as 00, reading
    /// only its first four fields, if it is at least 55 characters and the 56th, if any, is `-`.
    public static func parse(traceparent: String, tracestate: String? = nil) -> SpanContext? {
        let bytes = Array(traceparent.utf8)
        guard bytes.count >= 55 else { return nil }
        guard let version = Hex.decode(bytes[0..<2]), version != 0xff else { return nil }
        if version == 0 {
            guard bytes.count == 55 else { return nil }
        } else if bytes.count > 55 {
            guard bytes[55] == UInt8(ascii: "-") else { return nil }
        }
        guard bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-"),
              let traceHigh = Hex.decode(bytes[3..<19]), let traceLow = Hex.decode(bytes[19..<35]),
              let parent = Hex.decode(bytes[36..<52]), let flags = Hex.decode(bytes[53..<55])
        else { return nil }
        let traceID = TraceID(high: traceHigh, low: traceLow)
        let spanID = SpanID(parent)
        guard traceID.isValid, spanID.isValid else { return nil }
        // Unknown flags of a higher version are not passed on (§3.2.2.5).
        let traceFlags = version == 0 ? UInt8(flags) : UInt8(flags) & 1
        let state = tracestate.flatMap { TraceState(header: $0) } ?? TraceState()
        return SpanContext(traceID: traceID, spanID: spanID, traceFlags: traceFlags, traceState: state, isRemote: true)
    }

    /// Writes `traceparent` for version 00.
    public static func traceparent(_ context: SpanContext) -> String {
        let flags = Hex.encode(UInt64(context.traceFlags)).suffix(2)
        return "00-\(context.traceID)-\(context.spanID)-\(flags)"
    }

    /// Writes both headers into any carrier through `set`; `tracestate` only when non-empty.
    public static func inject<Carrier>(_ context: SpanContext, into carrier: inout Carrier, set: (inout Carrier, String, String) -> Void) {
        guard context.isValid else { return }
        set(&carrier, traceparentHeader, traceparent(context))
        if !context.traceState.members.isEmpty {
            set(&carrier, tracestateHeader, context.traceState.description)
        }
    }

    /// Reads both headers from any carrier through `get` (header names are case-insensitive;
    /// `get` should treat them so).
    public static func extract<Carrier>(from carrier: Carrier, get: (Carrier, String) -> String?) -> SpanContext? {
        guard let parent = get(carrier, traceparentHeader) else { return nil }
        return parse(traceparent: String(parent.trimmed()), tracestate: get(carrier, tracestateHeader))
    }
}
