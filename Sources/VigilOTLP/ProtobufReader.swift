/// Reads protocol buffers wire format (https://protobuf.dev/programming-guides/encoding/) field
/// by field: enough for a collector's response, and for tests to read what the encoders write. Malformed input ends the reading; it never traps.
struct ProtobufReader {
    enum Value {
        case varint(UInt64)
        case bytes(ArraySlice<UInt8>)
        /// A fixed64 or fixed32 field's bits, little-endian.
        case fixed(UInt64)
    }

    var data: ArraySlice<UInt8>

    init(_ data: ArraySlice<UInt8>) { self.data = data }

    mutating func varint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while let byte = data.popFirst() {
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }

    /// The next field's number and value, or nil at the end or on malformed input.
    mutating func next() -> (field: Int, value: Value)? {
        guard let key = varint() else { return nil }
        let field = Int(truncatingIfNeeded: key >> 3)
        switch key & 7 {
        case 0:
            return varint().map { (field, .varint($0)) }
        case 1, 5:  // fixed64, fixed32
            let size = key & 7 == 1 ? 8 : 4
            guard data.count >= size else { return nil }
            var bits: UInt64 = 0
            for (i, byte) in data.prefix(size).enumerated() { bits |= UInt64(byte) << UInt64(8 * i) }
            data = data.dropFirst(size)
            return (field, .fixed(bits))
        case 2:
            guard let length = varint(), length <= data.count else { return nil }
            let bytes = data.prefix(Int(length))
            data = data.dropFirst(Int(length))
            return (field, .bytes(bytes))
        default:
            return nil
        }
    }
}
