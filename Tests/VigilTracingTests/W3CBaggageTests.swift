import XCTest
@testable import VigilTracing

/// The `baggage` header as W3C Baggage defines it.
final class W3CBaggageTests: XCTestCase {
    func testMembersWithSpacesPropertiesAndPercentEncodingAreRead() {
        let baggage = W3CBaggage.parse(" tenant = acme , user%20id=a%2Cb%3Bc%25 ;ttl=30; secret ,k=v")
        XCTAssertEqual(baggage.entries, [
            Baggage.Entry(key: "tenant", value: "acme"),
            Baggage.Entry(key: "user%20id", value: "a,b;c%", properties: ["ttl=30", "secret"]),
            Baggage.Entry(key: "k", value: "v"),
        ])
        XCTAssertEqual(W3CBaggage.parse("emoji=%F0%9F%90%9F")["emoji"], "🐟")
    }

    func testAMalformedMemberIsSkippedAndTheOthersAreKept() {
        let baggage = W3CBaggage.parse("good=1,no-equals,bad key=2,=3,quote=\"x\",pct=%zz,bad-utf8=%FF,,also=ok")
        XCTAssertEqual(baggage.entries.map(\.key), ["good", "also"])
        XCTAssertTrue(W3CBaggage.parse("").isEmpty)
    }

    func testWritingPercentEncodesWhatIsNotABaggageOctetAndReadingItBackGivesTheSameBaggage() throws {
        var baggage = Baggage()
        XCTAssertTrue(baggage.set("tenant", "acme corp, \"eu\"; 100% 🐟\\"))
        XCTAssertTrue(baggage.set("flag", "on", properties: ["ttl=30", "internal"]))
        XCTAssertFalse(baggage.set("bad key", "x"), "keys are tokens")
        XCTAssertFalse(baggage.set("k", "x", properties: ["a b"]), "properties are tokens")
        let header = try XCTUnwrap(W3CBaggage.headerValue(baggage))
        XCTAssertEqual(header, "tenant=acme%20corp%2C%20%22eu%22%3B%20100%25%20%F0%9F%90%9F%5C,flag=on;ttl=30;internal")
        XCTAssertEqual(W3CBaggage.parse(header), baggage)
        XCTAssertNil(W3CBaggage.headerValue(Baggage()))
    }

    func testAtMost180MembersAnd8192BytesAreReadAndWritten() throws {
        let many = (0..<200).map { "k\($0)=v" }.joined(separator: ",")
        XCTAssertEqual(W3CBaggage.parse(many).entries.count, 180)

        let long = String(repeating: "x", count: 3000)
        let big = (0..<4).map { "k\($0)=\(long)" }.joined(separator: ",")  // 4 × 3003 + 3 bytes
        let read = W3CBaggage.parse(big)
        XCTAssertEqual(read.entries.map(\.key), ["k0", "k1"], "the third member would pass 8192 bytes")

        var baggage = Baggage()
        for i in 0..<4 { baggage.set("k\(i)", long) }
        for i in 0..<200 { baggage.set("s\(i)", "v") }
        let header = try XCTUnwrap(W3CBaggage.headerValue(baggage))
        XCTAssertLessThanOrEqual(header.utf8.count, 8192)
        XCTAssertEqual(W3CBaggage.parse(header).entries.count, header.split(separator: ",").count)
        var small = Baggage()
        for i in 0..<200 { small.set("s\(i)", "v") }
        XCTAssertEqual(try XCTUnwrap(W3CBaggage.headerValue(small)).split(separator: ",").count, 180)
    }

    func testInjectAndExtractUseTheBaggageHeader() {
        var baggage = Baggage()
        baggage.set("tenant", "acme")
        var carrier: [String: String] = [:]
        W3CBaggage.inject(baggage, into: &carrier) { $0[$1] = $2 }
        XCTAssertEqual(carrier, ["baggage": "tenant=acme"])
        XCTAssertEqual(W3CBaggage.extract(from: carrier) { $0[$1] }, baggage)
        XCTAssertTrue(W3CBaggage.extract(from: [String: String]()) { $0[$1] }.isEmpty)
        var untouched: [String: String] = [:]
        W3CBaggage.inject(Baggage(), into: &untouched) { $0[$1] = $2 }
        XCTAssertEqual(untouched, [:], "empty baggage writes no header")
    }
}
