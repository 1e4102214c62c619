import VigilSupport

/// Name-value pairs that travel with a request across services (W3C Baggage): a tenant, a
/// feature flag, a request class. Unlike span attributes they reach every downstream service;
/// keep them few and never put secrets in them.
public struct Baggage: Sendable, Equatable {
    /// One list member: its key, its value (decoded), and its properties as written
    /// (`key=value` or a bare `key`), which W3C Baggage leaves opaque.
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: String
        public var properties: [String]

        public init(key: String, value: String, properties: [String] = []) {
            self.key = key
            self.value = value
            self.properties = properties
        }
    }

    public private(set) var entries: [Entry] = []

    public init() {}

    public var isEmpty: Bool { entries.isEmpty }

    public subscript(key: String) -> String? {
        entries.first { $0.key == key }?.value
    }

    /// Adds or replaces the entry of `key`. Returns false, changing nothing, when `key` is not
    /// an HTTP token (the W3C grammar's `key`) or a property is not `token` or `token=value`.
    @discardableResult
    public mutating func set(_ key: String, _ value: String, properties: [String] = []) -> Bool {
        guard W3CBaggage.isToken(key[...]), properties.allSatisfy(W3CBaggage.isValidProperty) else { return false }
        let entry = Entry(key: key, value: value, properties: properties)
        if let i = entries.firstIndex(where: { $0.key == key }) { entries[i] = entry } else { entries.append(entry) }
        return true
    }

    public mutating func remove(_ key: String) {
        entries.removeAll { $0.key == key }
    }
}

/// Reading and writing the `baggage` header (W3C Baggage):
/// `key1=value1;property, key2=value2`, values percent-encoded UTF-8.
///
/// The limits are the specification's: at most 180 list members and 8192 bytes in all. A
/// header is read member by member: a malformed member is skipped (the others still count),
/// and members past either limit are dropped. Writing keeps the members that fit, in order.
public enum W3CBaggage {
    public static let header = "baggage"
    public static let maximumEntries = 180
    public static let maximumBytes = 8192

    /// The baggage in a header value; empty when nothing in it is valid.
    public static func parse(_ header: String) -> Baggage {
        var baggage = Baggage()
        var bytes = 0
        var count = 0
        for raw in header.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            let member = trimmed(raw)
            if member.isEmpty { continue }
            bytes += member.count + (count == 0 ? 0 : 1)
            guard bytes <= maximumBytes, count < maximumEntries else { break }
            guard let entry = parseMember(member) else { continue }
            count += 1
            baggage.set(entry.key, entry.value, properties: entry.properties)
        }
        return baggage
    }

    /// The header value for `baggage`, or nil when it is empty; members that would pass the
    /// limits are left out.
    public static func headerValue(_ baggage: Baggage) -> String? {
        var out = ""
        var count = 0
        for entry in baggage.entries {
            var member = entry.key + "=" + percentEncoded(entry.value)
            for property in entry.properties { member += ";" + property }
            let added = member.utf8.count + (count == 0 ? 0 : 1)
            guard count < maximumEntries, out.utf8.count + added <= maximumBytes else { break }
            if count > 0 { out += "," }
            out += member
            count += 1
        }
        return count == 0 ? nil : out
    }

    /// Writes the header into any carrier through `set`, when `baggage` is not empty.
    public static func inject<Carrier>(_ baggage: Baggage, into carrier: inout Carrier, set: (inout Carrier, String, String) -> Void) {
        guard let value = headerValue(baggage) else { return }
        set(&carrier, header, value)
    }

    /// Reads the header from any carrier through `get`; empty when absent.
    public static func extract<Carrier>(from carrier: Carrier, get: (Carrier, String) -> String?) -> Baggage {
        guard let value = get(carrier, header) else { return Baggage() }
        return parse(value)
    }

    // MARK: Grammar

    private static func parseMember(_ member: Substring.UTF8View.SubSequence) -> Baggage.Entry? {
        var parts = member.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false).map(trimmed)
        guard !parts.isEmpty else { return nil }
        let pair = parts.removeFirst()
        guard let eq = pair.firstIndex(of: UInt8(ascii: "=")) else { return nil }
        let key = trimmed(pair[pair.startIndex..<eq])
        let rawValue = trimmed(pair[pair.index(after: eq)...])
        guard isToken(Substring(key)), rawValue.allSatisfy(isBaggageOctet), let value = percentDecoded(rawValue) else { return nil }
        var properties: [String] = []
        for part in parts where !part.isEmpty {
            let property = String(Substring(part))
            guard isValidProperty(property) else { return nil }
            properties.append(property)
        }
        return Baggage.Entry(key: String(Substring(key)), value: value, properties: properties)
    }

    /// `token` or `token OWS "=" OWS value`.
    static func isValidProperty(_ property: String) -> Bool {
        let utf8 = property.utf8[...]
        guard let eq = utf8.firstIndex(of: UInt8(ascii: "=")) else { return isToken(Substring(trimmed(utf8))) }
        return isToken(Substring(trimmed(utf8[utf8.startIndex..<eq]))) && trimmed(utf8[utf8.index(after: eq)...]).allSatisfy(isBaggageOctet)
    }

    /// An HTTP token (RFC 9110 `tchar`s), not empty.
    static func isToken(_ text: Substring) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { b in
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
            case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
                 UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
                 UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): true
            default: false
            }
        }
    }

    /// `baggage-octet`: printable ASCII but space, `"`, `,`, `;` and `\`.
    static func isBaggageOctet(_ b: UInt8) -> Bool {
        b >= 0x21 && b <= 0x7E && b != 0x22 && b != 0x2C && b != 0x3B && b != 0x5C
    }

    /// Percent-encodes every byte of the UTF-8 that is not a baggage octet, and `%` itself.
    static func percentEncoded(_ value: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        for b in value.utf8 {
            if isBaggageOctet(b) && b != UInt8(ascii: "%") {
                out.append(b)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `%XX` escapes; nil when an escape is malformed or the result is not UTF-8.
    static func percentDecoded(_ value: Substring.UTF8View.SubSequence) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(value.count)
        var i = value.startIndex
        while i < value.endIndex {
            let b = value[i]
            if b == UInt8(ascii: "%") {
                let h = value.index(after: i)
                guard h < value.endIndex, value.index(after: h) < value.endIndex,
                      let high = hexDigit(value[h]), let low = hexDigit(value[value.index(after: h)]) else { return nil }
                out.append(high << 4 | low)
                i = value.index(h, offsetBy: 2)
            } else {
                out.append(b)
                i = value.index(after: i)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    private static func hexDigit(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Without leading and trailing spaces and tabs (`OWS`).
    static func trimmed(_ bytes: Substring.UTF8View.SubSequence) -> Substring.UTF8View.SubSequence {
        var s = bytes
        while let first = s.first, first == 0x20 || first == 0x09 { s = s.dropFirst() }
        while let last = s.last, last == 0x20 || last == 0x09 { s = s.dropLast() }
        return s
    }
}
