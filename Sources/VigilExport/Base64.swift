/// Base64 (RFC 4648): standard alphabet for Basic auth, URL-safe for Pushgateway label values.
public enum Base64 {
    private static let standard = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlSafe = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Encodes `bytes` with the standard alphabet, or the URL-safe one (`-`, `_`); `padding`
    /// adds `=` up to a multiple of four characters.
    public static func encode(_ bytes: [UInt8], urlSafe: Bool = false, padding: Bool = true) -> String {
        let table = urlSafe ? Self.urlSafe : standard
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let chunk = Array(bytes[i..<min(i + 3, bytes.count)])
            let n = chunk.count
            let v = UInt32(chunk[0]) << 16 | UInt32(n > 1 ? chunk[1] : 0) << 8 | UInt32(n > 2 ? chunk[2] : 0)
            out.append(table[Int(v >> 18 & 63)])
            out.append(table[Int(v >> 12 & 63)])
            if n > 1 { out.append(table[Int(v >> 6 & 63)]) } else if padding { out.append(UInt8(ascii: "=")) }
            if n > 2 { out.append(table[Int(v & 63)]) } else if padding { out.append(UInt8(ascii: "=")) }
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes either alphabet, with or without padding; nil for anything else.
    public static func decode(_ text: String) -> [UInt8]? {
        var values: [UInt32] = []
        for byte in text.utf8 where byte != UInt8(ascii: "=") {
            if let i = standard.firstIndex(of: byte) ?? urlSafe.firstIndex(of: byte) { values.append(UInt32(i)) } else { return nil }
        }
        guard values.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < values.count {
            let group = Array(values[i..<min(i + 4, values.count)])
            var v: UInt32 = 0
            for (j, x) in group.enumerated() { v |= x << UInt32(18 - 6 * j) }
            out.append(UInt8(truncatingIfNeeded: v >> 16))
            if group.count > 2 { out.append(UInt8(truncatingIfNeeded: v >> 8)) }
            if group.count > 3 { out.append(UInt8(truncatingIfNeeded: v)) }
            i += 4
        }
        return out
    }
}
