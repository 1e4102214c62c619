/// What a collector answered to an export: `Export{Trace,Metrics}ServiceResponse`
/// (opentelemetry-proto, collector/*/v1), in protobuf or JSON.
public enum OTLPResponse {
    /// The body's `partial_success` (field 1): how many items it rejected (field 1,
    /// `rejected_spans` or `rejected_data_points`) and its `error_message` (field 2). Nil when the
    /// body is empty, does not parse, or reports nothing rejected and no message.
    public static func partialSuccess(body: [UInt8], contentType: String?) -> (rejected: Int64, message: String)? {
        guard !body.isEmpty else { return nil }
        var rejected: Int64 = 0
        var message = ""
        if contentType?.lowercased().contains("json") == true || body.first == UInt8(ascii: "{") {
            guard let partial = JSONValue.parse(body)?["partialSuccess"] else { return nil }
            rejected = (partial["rejectedSpans"] ?? partial["rejectedDataPoints"])?.int64 ?? 0
            message = partial["errorMessage"]?.string ?? ""
        } else {
            var reader = ProtobufReader(body[...])
            while let (field, value) = reader.next() {
                guard field == 1, case .bytes(let partial) = value else { continue }
                var inner = ProtobufReader(partial)
                while let (f, v) = inner.next() {
                    if f == 1, case .varint(let n) = v { rejected = Int64(bitPattern: n) }
                    if f == 2, case .bytes(let text) = v { message = String(decoding: text, as: UTF8.self) }
                }
            }
        }
        return rejected == 0 && message.isEmpty ? nil : (rejected, message)
    }
}
