import XCTest
@testable import VigilOTLP

/// `ExportTraceServiceResponse.partial_success`, as a collector writes it in either encoding.
final class OTLPResponseTests: XCTestCase {
    func partialSuccess(_ json: String) -> (rejected: Int64, message: String)? {
        OTLPResponse.partialSuccess(body: Array(json.utf8), contentType: "application/json")
    }

    func testPartialSuccessIsReadFromProtobuf() {
        // ExportTraceServiceResponse{partial_success{rejected_spans: 3, error_message: "old"}}
        let protobuf: [UInt8] = [0x0A, 0x07, 0x08, 0x03, 0x12, 0x03, 0x6F, 0x6C, 0x64]
        let result = OTLPResponse.partialSuccess(body: protobuf, contentType: "application/x-protobuf")
        XCTAssertEqual(result?.rejected, 3)
        XCTAssertEqual(result?.message, "old")
        XCTAssertNil(OTLPResponse.partialSuccess(body: [], contentType: "application/x-protobuf"))
        XCTAssertNil(OTLPResponse.partialSuccess(body: [0x0A, 0x00], contentType: nil), "an empty partial_success reports nothing")
    }

    func testPartialSuccessIsReadFromJSON() {
        let result = partialSuccess(#"{"partialSuccess": {"rejectedSpans": "2", "errorMessage": "bad"}}"#)
        XCTAssertEqual(result?.rejected, 2)
        XCTAssertEqual(result?.message, "bad")
        XCTAssertNil(partialSuccess("{}"))
        XCTAssertNil(partialSuccess(#"{"partialSuccess": {}}"#))
        XCTAssertNil(OTLPResponse.partialSuccess(body: Array("{}".utf8), contentType: nil), "JSON is recognised without a content type")
    }

    func testRejectedSpansAsAStringOrANumberAndAnEscapedQuoteInTheMessage() {
        for rejected in [#""3""#, "3"] {
            let result = partialSuccess(#"{"partialSuccess":{"rejectedSpans":\#(rejected),"errorMessage":"span \"checkout\" too old"}}"#)
            XCTAssertEqual(result?.rejected, 3, rejected)
            XCTAssertEqual(result?.message, #"span "checkout" too old"#, rejected)
        }
        let metrics = partialSuccess(#"{"partialSuccess":{"rejectedDataPoints":"4"}}"#)
        XCTAssertEqual(metrics?.rejected, 4, "the metrics service's field is read too")
    }

    func testMalformedBodiesReportNothingAndNeverTrap() {
        XCTAssertNil(partialSuccess(#"{"partialSuccess": {"rejectedSpans": 3"#))
        XCTAssertNil(partialSuccess("<html>502 Bad Gateway</html>"))
        let protobuf: [UInt8] = [0x0A, 0x07, 0x08, 0x03, 0x12, 0x03, 0x6F, 0x6C, 0x64]
        for end in 0..<protobuf.count {
            _ = OTLPResponse.partialSuccess(body: Array(protobuf[..<end]), contentType: "application/x-protobuf")
        }
        // A varint of eleven continuation bytes, a length past the end, an unknown wire type.
        for body: [UInt8] in [[0x0A] + Array(repeating: 0xFF, count: 11), [0x0A, 0x7F, 0x08], [0x0F, 0x01], [0x08, 0x80]] {
            XCTAssertNil(OTLPResponse.partialSuccess(body: body, contentType: "application/x-protobuf"), "\(body)")
        }
    }
}
