/// Hexadecimal digits, lowercase, as W3C Trace Context, OpenMetrics exemplars and JSON escapes
/// write them.
public enum Hex {
    @usableFromInline static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The digit of a value from 0 to 15.
    @inlinable
    public static func digit(_ nibble: UInt8) -> UInt8 { digits[Int(nibble & 0xF)] }

    /// Appends the 16 digits of `value`, zero-padded, to `out`.
    @inlinable
    public static func append(_ value: UInt64, to out: inout [UInt8]) {
        for shift in stride(from: 60, through: 0, by: -4) {
            out.append(digits[Int((value >> UInt64(shift)) & 0xF)])
        }
    }

    /// The 16 digits of `value`, zero-padded.
    public static func encode(_ value: UInt64) -> String {
        String(unsafeUninitializedCapacity: 16) { buffer in
            for i in 0..<16 {
                buffer[i] = digits[Int((value >> UInt64((15 - i) * 4)) & 0xF)]
            }
            return 16
        }
    }

    /// Two digits a byte.
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The value of up to 16 digits; nil for anything else. Lowercase only unless `ignoringCase`
    /// (W3C Trace Context requires lowercase).
    public static func decode(_ bytes: some Collection<UInt8>, ignoringCase: Bool = false) -> UInt64? {
        guard bytes.count <= 16, !bytes.isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in bytes {
            let nibble: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F") where ignoringCase: nibble = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt64(nibble)
        }
        return value
    }

    /// The 8 bytes of `value`, big-endian.
    public static func bigEndianBytes(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> UInt64((7 - $0) * 8)) }
    }
}

extension StringProtocol {
    /// The text without leading and trailing characters from `set` (by default spaces and tabs,
    /// the optional whitespace of HTTP and of W3C lists).
    public func trimmed(_ set: String = " \t") -> Substring {
        var s = self[...]
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return Substring(s)
    }

    /// `%XX` sequences (either case) replaced by the byte they stand for; anything else, a stray
    /// `%` included, kept as it is. Used for OTLP header values and resource attributes, which
    /// the OpenTelemetry specification percent-encodes as W3C Baggage does.
    public var percentDecoded: String {
        var out: [UInt8] = []
        var bytes = Array(utf8)[...]
        while let b = bytes.popFirst() {
            if b == UInt8(ascii: "%"), bytes.count >= 2, let v = Hex.decode(bytes.prefix(2), ignoringCase: true) {
                out.append(UInt8(v))
                bytes = bytes.dropFirst(2)
            } else {
                out.append(b)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Compares without returning early, so that timing does not tell how much of a secret matched.
    public func constantTimeEquals(_ other: some StringProtocol) -> Bool {
        let a = Array(utf8), b = Array(other.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<Swift.max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }
}

/// JSON text (RFC 8259) without Foundation.
public enum JSONText {
    /// Appends `text` as a JSON string: quote, backslash and control characters escaped, the
    /// rest as UTF-8.
    public static func appendString(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0..<0x20:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(Hex.digit(byte >> 4))
                out.append(Hex.digit(byte))
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
