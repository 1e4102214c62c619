import XCTest
@testable import VigilTracing

/// Cases from the W3C Trace Context Recommendation (§3.2, §3.3) and its test suite.
final class W3CTraceContextTests: XCTestCase {
    let example = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    func testParsesTheRecommendationsExample() throws {
        let context = try XCTUnwrap(W3CTraceContext.parse(traceparent: example))
        XCTAssertEqual(context.traceID.description, "0af7651916cd43dd8448eb211c80319c")
        XCTAssertEqual(context.spanID.description, "b7ad6b7169203331")
        XCTAssertTrue(context.isSampled)
        XCTAssertTrue(context.isRemote)
        XCTAssertEqual(W3CTraceContext.traceparent(context), example)
        let unsampled = try XCTUnwrap(W3CTraceContext.parse(traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"))
        XCTAssertFalse(unsampled.isSampled)
    }

    func testRejectsInvalidTraceparents() {
        let invalid = [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0",  // too short
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",  // all-zero trace id
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  // all-zero parent id
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  // version ff is invalid
            "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",  // uppercase hex
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",  // version 00 has exactly 4 fields
            "00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01",  // wrong separators
            "0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  // version not hex
            "00-0af7651916cd43dd8448eb211c80319z-b7ad6b7169203331-01",  // trace id not hex
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333g-01",  // parent id not hex
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0x",  // flags not hex
            "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",  // short trace id
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x", // higher version: 56th char must be '-'
        ]
        for header in invalid {
            XCTAssertNil(W3CTraceContext.parse(traceparent: header), header)
        }
    }

    func testHigherVersionsAreParsedAsVersion00() throws {
        let future = try XCTUnwrap(W3CTraceContext.parse(traceparent: "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-holds"))
        XCTAssertEqual(future.traceID.description, "0af7651916cd43dd8448eb211c80319c")
        XCTAssertTrue(future.isSampled)
        // Unknown flags of a future version are not passed on.
        let flags = try XCTUnwrap(W3CTraceContext.parse(traceparent: "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff"))
        XCTAssertEqual(flags.traceFlags, 1)
        XCTAssertNotNil(W3CTraceContext.parse(traceparent: "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"))
    }

    func testTraceStateExamplesAndLimits() throws {
        let state = try XCTUnwrap(TraceState(header: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"))
        XCTAssertEqual(state["rojo"], "00f067aa0ba902b7")
        XCTAssertEqual(state["congo"], "t61rcWkgMzE")
        XCTAssertEqual(state.description, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
        // Multi-tenant keys, spaces around members, empty members.
        let tenant = try XCTUnwrap(TraceState(header: " fw529a3039@dt=ABC , , rojo=1 "))
        XCTAssertEqual(tenant["fw529a3039@dt"], "ABC")
        XCTAssertEqual(tenant.members.count, 2)
        for bad in ["Rojo=1", "rojo", "rojo=1,rojo=2", "rojo=a,b", "rojo=del\u{7f}", "1@=x", "@vendor=x",
                    "tenant@TooLongSystemId0=x", "rojo=1=2", "\(String(repeating: "k", count: 257))=v"] {
            XCTAssertNil(TraceState(header: bad), bad)
        }
        let thirtyTwo = (0..<32).map { "k\($0)=v" }.joined(separator: ",")
        XCTAssertEqual(TraceState(header: thirtyTwo)?.members.count, 32)
        XCTAssertNil(TraceState(header: thirtyTwo + ",k32=v"))
    }

    func testTraceStateUpdatesMoveToTheFrontAndKeep32() throws {
        var state = try XCTUnwrap(TraceState(header: (0..<32).map { "k\($0)=v" }.joined(separator: ",")))
        XCTAssertTrue(state.set("vigil", "1"))
        XCTAssertEqual(state.members.first?.key, "vigil")
        XCTAssertEqual(state.members.count, 32)
        XCTAssertNil(state["k31"])
        XCTAssertTrue(state.set("k0", "new"))
        XCTAssertEqual(state.members.first?.key, "k0")
        XCTAssertEqual(state["k0"], "new")
        XCTAssertFalse(state.set("BAD", "x"))
    }

    func testInjectAndExtractThroughAnyCarrier() throws {
        var context = try XCTUnwrap(W3CTraceContext.parse(traceparent: example, tracestate: "rojo=00f067aa0ba902b7"))
        context.isRemote = false
        var headers: [(String, String)] = []
        W3CTraceContext.inject(context, into: &headers) { $0.append(($1, $2)) }
        XCTAssertEqual(headers.map(\.0), ["traceparent", "tracestate"])
        let extracted = try XCTUnwrap(W3CTraceContext.extract(from: headers) { headers, name in
            headers.first { $0.0.lowercased() == name }?.1
        })
        XCTAssertEqual(extracted.traceID, context.traceID)
        XCTAssertEqual(extracted.spanID, context.spanID)
        XCTAssertEqual(extracted.traceState["rojo"], "00f067aa0ba902b7")
        // An invalid tracestate is dropped, the traceparent kept.
        XCTAssertEqual(W3CTraceContext.parse(traceparent: example, tracestate: "BAD")?.traceState.members.count, 0)
    }

    func testRandomIdsAreNeverZeroAndDoNotRepeat() {
        var seen = Set<TraceID>()
        for _ in 0..<10_000 {
            let id = TraceID.random()
            XCTAssertTrue(id.isValid)
            XCTAssertTrue(seen.insert(id).inserted)
            XCTAssertTrue(SpanID.random().isValid)
        }
        XCTAssertEqual(TraceID(hex: "0af7651916cd43dd8448eb211c80319c")?.description, "0af7651916cd43dd8448eb211c80319c")
        XCTAssertNil(TraceID(hex: "xyz"))
    }
}
