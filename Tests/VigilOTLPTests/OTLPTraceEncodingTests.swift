import XCTest
@testable import VigilOTLP
@testable import VigilTracing

/// The trace request encoders, read back field by field. That a real decoder agrees is pinned in
/// VigilExportTests (OTLPExportTests, against opentelemetry-proto).
final class OTLPTraceEncodingTests: XCTestCase {
    let traceID = TraceID(high: 0x0102_0304_0506_0708, low: 0x090A_0B0C_0D0E_0F10)
    let resource = TelemetryResource(attributes: [Attribute("service.name", "checkout")])

    func span(name: String = "charge", attributes: [Attribute] = []) -> SpanData {
        let linked = SpanContext(traceID: TraceID(high: 7, low: 8), spanID: SpanID(9), isRemote: true)
        return SpanData(
            name: name, context: SpanContext(traceID: traceID, spanID: SpanID(0xA1A2_A3A4_A5A6_A7A8)), parentSpanID: SpanID(0xB1),
            kind: .client, startTimeUnixNano: 1_700_000_000_000_000_000, endTimeUnixNano: 1_700_000_000_500_000_000,
            attributes: attributes, events: [SpanEvent(name: "retry", timeUnixNano: 1_700_000_000_100_000_000, attributes: [Attribute("n", 2)])],
            links: [SpanLink(linked)], status: .error(message: "card \"declined\""),
            droppedAttributes: 0, droppedEvents: 0, droppedLinks: 1)
    }

    func testJSONFollowsTheOTLPMapping() throws {
        let attributes = [
            Attribute("s", "x"), Attribute("i", 42), Attribute("d", 0.25), Attribute("b", true), Attribute("nan", .double(.nan)),
            Attribute("list", .intArray([1, -2])),
        ]
        let document = try XCTUnwrap(JSONValue.parse(OTLPJSON.encode([span(attributes: attributes)], resource: resource)))
        guard case .array(let resourceSpans) = document["resourceSpans"], let first = resourceSpans.first,
              case .array(let resourceAttributes) = first["resource"]?["attributes"],
              case .array(let scopeSpans) = first["scopeSpans"], let scope = scopeSpans.first,
              case .array(let spans) = scope["spans"], let span = spans.first else {
            return XCTFail("not an ExportTraceServiceRequest: \(document)")
        }
        XCTAssertEqual(resourceAttributes.first?["key"], .string("service.name"))
        XCTAssertEqual(resourceAttributes.first?["value"]?["stringValue"], .string("checkout"))
        XCTAssertEqual(scope["scope"]?["name"], .string("vigil"))
        XCTAssertEqual(span["traceId"], .string("0102030405060708090a0b0c0d0e0f10"), "ids are lowercase hex, not base64")
        XCTAssertEqual(span["spanId"], .string("a1a2a3a4a5a6a7a8"))
        XCTAssertEqual(span["parentSpanId"], .string("00000000000000b1"))
        XCTAssertEqual(span["name"], .string("charge"))
        XCTAssertEqual(span["kind"], .number(3), "enums are integers")
        XCTAssertEqual(span["startTimeUnixNano"], .string("1700000000000000000"), "64-bit integers are strings")
        XCTAssertEqual(span["droppedLinksCount"], .number(1))
        guard case .array(let values) = span["attributes"] else { return XCTFail("no attributes") }
        let byKey = Dictionary(uniqueKeysWithValues: values.compactMap { v in v["key"]?.string.map { ($0, v["value"]) } })
        XCTAssertEqual(byKey["s"], .object(["stringValue": .string("x")]))
        XCTAssertEqual(byKey["i"], .object(["intValue": .string("42")]))
        XCTAssertEqual(byKey["d"], .object(["doubleValue": .number(0.25)]))
        XCTAssertEqual(byKey["b"], .object(["boolValue": .bool(true)]))
        XCTAssertEqual(byKey["nan"], .object(["doubleValue": .string("NaN")]))
        XCTAssertEqual(byKey["list"], .object(["arrayValue": .object(["values": .array([
            .object(["intValue": .string("1")]), .object(["intValue": .string("-2")]),
        ])])]))
        XCTAssertEqual(span["status"], .object(["message": .string(#"card "declined""#), "code": .number(2)]))
        guard case .array(let links) = span["links"] else { return XCTFail("no links") }
        XCTAssertEqual(links.first?["flags"], .number(0x301), "sampled, with the remote bit known and set")
        guard case .array(let events) = span["events"] else { return XCTFail("no events") }
        XCTAssertEqual(events.first?["timeUnixNano"], .string("1700000000100000000"))
    }

    /// Reads one message's fields into (field number, value) pairs; fails if bytes are left over.
    func fields(_ bytes: ArraySlice<UInt8>, file: StaticString = #filePath, line: UInt = #line) -> [(Int, ProtobufReader.Value)] {
        var reader = ProtobufReader(bytes)
        var out: [(Int, ProtobufReader.Value)] = []
        while let field = reader.next() { out.append(field) }
        XCTAssertTrue(reader.data.isEmpty, "\(reader.data.count) bytes unread", file: file, line: line)
        return out
    }

    func message(_ number: Int, in fields: [(Int, ProtobufReader.Value)]) -> ArraySlice<UInt8>? {
        for (field, value) in fields where field == number { if case .bytes(let bytes) = value { return bytes } }
        return nil
    }

    func testProtobufFieldsAreWhereTraceProtoPutsThem() throws {
        // A value longer than 127 bytes makes every enclosing length take two bytes or more.
        let long = String(repeating: "x", count: 300)
        let bytes = OTLPProtobuf.encode([span(attributes: [Attribute("long", .string(long))])], resource: resource)
        let request = fields(bytes[...])
        let resourceSpans = fields(try XCTUnwrap(message(1, in: request)))  // ExportTraceServiceRequest.resource_spans = 1
        let scopeSpans = fields(try XCTUnwrap(message(2, in: resourceSpans)))  // ResourceSpans.scope_spans = 2
        let scope = fields(try XCTUnwrap(message(1, in: scopeSpans)))  // ScopeSpans.scope = 1
        XCTAssertEqual(message(1, in: scope).map { String(decoding: $0, as: UTF8.self) }, "vigil")
        let span = fields(try XCTUnwrap(message(2, in: scopeSpans)))  // ScopeSpans.spans = 2
        XCTAssertEqual(message(1, in: span).map(Array.init), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], "trace_id, big-endian")
        XCTAssertEqual(message(2, in: span).map(Array.init), [0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8], "span_id")
        XCTAssertEqual(message(4, in: span).map(Array.init), [0, 0, 0, 0, 0, 0, 0, 0xB1], "parent_span_id")
        XCTAssertEqual(message(5, in: span).map { String(decoding: $0, as: UTF8.self) }, "charge", "name")
        let kind = span.first { $0.0 == 6 }
        guard case .varint(3)? = kind?.1 else { return XCTFail("kind = 6 should be CLIENT (3): \(String(describing: kind))") }
        XCTAssertEqual(span.map(\.0).filter { [7, 8, 16].contains($0) }, [7, 8, 16], "start, end and flags are fixed-width")
        let attribute = fields(try XCTUnwrap(message(9, in: span)))  // attributes = 9 → KeyValue
        let value = fields(try XCTUnwrap(message(2, in: attribute)))  // KeyValue.value = 2 → AnyValue
        XCTAssertEqual(message(1, in: value)?.count, 300, "AnyValue.string_value = 1")
        let status = fields(try XCTUnwrap(message(15, in: span)))  // status = 15
        XCTAssertEqual(message(2, in: status).map { String(decoding: $0, as: UTF8.self) }, #"card "declined""#)
    }

    func testAnEmptyNameIsStillWritten() {
        let bytes = OTLPProtobuf.encode([span(name: "")], resource: resource)
        let tag: UInt8 = 5 << 3 | 2  // name = 5, length-delimited
        XCTAssertTrue(bytes.indices.dropLast().contains { bytes[$0] == tag && bytes[$0 + 1] == 0 }, "proto3 would drop it; OTLP requires it")
    }

    func testVarintsRoundTrip() {
        for value: UInt64 in [0, 1, 127, 128, 300, 16_383, 16_384, UInt64(UInt32.max), UInt64.max] {
            var writer = ProtobufWriter()
            writer.varint(value)
            var reader = ProtobufReader(writer.bytes[...])
            XCTAssertEqual(reader.varint(), value)
            XCTAssertTrue(reader.data.isEmpty)
        }
        var negative = ProtobufWriter()
        negative.int64(3, -1)
        XCTAssertEqual(negative.bytes.count, 11, "a tag and ten bytes of two's complement")
    }
}
