import XCTest
@testable import VigilOTLP

final class JSONValueTests: XCTestCase {
    func parse(_ text: String, maxDepth: Int = 64) -> JSONValue? {
        JSONValue.parse(Array(text.utf8), maxDepth: maxDepth)
    }

    func testEscapesAreDecoded() {
        XCTAssertEqual(parse(#""say \"hi\"""#), .string(#"say "hi""#))
        XCTAssertEqual(parse(#""C:\\temp\/x""#), .string(#"C:\temp/x"#))
        XCTAssertEqual(parse(#""a\nb\tc\rd\be\ff""#), .string("a\nb\tc\rd\u{08}e\u{0C}f"))
        XCTAssertEqual(parse(#""caf\u00e9 \u00E9""#), .string("café é"))
        XCTAssertEqual(parse(#""\u0000""#), .string("\u{0}"))
        XCTAssertEqual(parse("\"café\""), .string("café"), "raw UTF-8 passes through")
    }

    func testSurrogatePairsMakeOneScalarAndLoneHalvesAreReplaced() {
        XCTAssertEqual(parse(#""\ud83d\ude00""#), .string("😀"))
        XCTAssertEqual(parse(#""\uD834\uDD1E""#), .string("𝄞"))
        XCTAssertEqual(parse(#""\ud83d!""#), .string("\u{FFFD}!"), "a high half alone")
        XCTAssertEqual(parse(#""\ude00""#), .string("\u{FFFD}"), "a low half alone")
        XCTAssertNil(parse(#""\ud83d\u0041""#), "a high half followed by something else than a low half")
    }

    func testNumbersFollowTheGrammar() {
        XCTAssertEqual(parse("0"), .number(0))
        XCTAssertEqual(parse("-0"), .number(-0.0))
        XCTAssertEqual(parse("3"), .number(3))
        XCTAssertEqual(parse("-12.5"), .number(-12.5))
        XCTAssertEqual(parse("1e3"), .number(1000))
        XCTAssertEqual(parse("2.5E-2"), .number(0.025))
        XCTAssertEqual(parse("6E+1"), .number(60))
        XCTAssertEqual(parse("9007199254740993")?.int64, 9_007_199_254_740_992, "past 2^53 a number is a Double")
        XCTAssertEqual(parse(#""9007199254740993""#)?.int64, 9_007_199_254_740_993, "which is why 64-bit integers travel as strings")
        XCTAssertEqual(parse("1e400"), .number(.infinity))
        XCTAssertNil(parse("1e400")?.int64)
        XCTAssertNil(parse("2.5")?.int64)
        for bad in ["01", "+1", ".5", "1.", "-", "1e", "1e+", "--1", "0x10", "1.2.3", "NaN", "Infinity", "- 1"] {
            XCTAssertNil(parse(bad), bad)
        }
    }

    func testContainersAndLiterals() {
        XCTAssertEqual(parse(#" { "a" : [1, true, false, null, {}, []], "b": {"c": "d"} } "#),
                       .object(["a": .array([.number(1), .bool(true), .bool(false), .null, .object([:]), .array([])]),
                                "b": .object(["c": .string("d")])]))
        XCTAssertEqual(parse(#"{"a": 1, "a": 2}"#)?["a"], .number(2), "the last of duplicate keys wins")
        XCTAssertNil(parse("[1]")?["a"])
    }

    func testNestingPastTheLimitIsRefused() {
        func nested(_ depth: Int) -> String { String(repeating: "[", count: depth) + String(repeating: "]", count: depth) }
        XCTAssertNotNil(parse(nested(8), maxDepth: 8))
        XCTAssertNil(parse(nested(9), maxDepth: 8))
        XCTAssertNotNil(parse(String(repeating: #"{"a":"#, count: 8) + "1" + String(repeating: "}", count: 8), maxDepth: 8))
        XCTAssertNil(parse(String(repeating: #"{"a":"#, count: 9) + "1" + String(repeating: "}", count: 9), maxDepth: 8))
        XCTAssertNil(parse(nested(100_000)), "deep input is refused, not a stack overflow")
    }

    func testMalformedInputIsNilNeverATrap() {
        let malformed = [
            "", " ", "{", "}", "[", "]", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{\"a\" 1}", "{a:1}", "{\"a\":1,}", "{1:2}",
            "\"open", "\"bad \\x escape\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\", "\"tab\tinside\"", "\"line\nbreak\"",
            "tru", "truth", "nul", "nulls", "falsey", "[1 2]", "1 2", "{}{}", "\u{FEFF}{}",
        ]
        for text in malformed {
            XCTAssertNil(parse(text), text.debugDescription)
        }
        // Every proper prefix of a valid document is invalid, and none traps.
        let document = Array(#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"x \"y\" \u00e9 \ud83d\ude00"},"n":[-1.5e3,true,null]}"#.utf8)
        XCTAssertNotNil(JSONValue.parse(document))
        for end in 0..<document.count {
            XCTAssertNil(JSONValue.parse(document[..<end]), String(decoding: document[..<end], as: UTF8.self))
        }
        // Arbitrary bytes, invalid UTF-8 among them.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0...24, using: &generator)).map { _ in
                Bool.random(using: &generator) ? Array("{}[]\":,\\u0123e.-tfn ".utf8).randomElement(using: &generator)! : UInt8.random(in: 0...255, using: &generator)
            }
            _ = JSONValue.parse(bytes)
        }
        XCTAssertEqual(JSONValue.parse([0x22, 0xFF, 0xFE, 0x22]), .string("\u{FFFD}\u{FFFD}"), "invalid UTF-8 in a string is replaced")
    }

    func testWhatTheWriterEscapesTheReaderReadsBack() {
        let texts = ["plain", "quote \" backslash \\ slash /", "controls \u{0}\u{1}\u{8}\u{1F}\n\r\t", "café 😀 𝄞", ""]
        for text in texts {
            var writer = JSONWriter()
            writer.string(text)
            XCTAssertEqual(JSONValue.parse(writer.bytes), .string(text), text.debugDescription)
        }
    }
}
