import Foundation
import XCTest
@testable import VigilResources

/// The `cmdline` matcher: RE2's syntax, a search like Swift's `contains`, and time linear in the
/// command line whatever the pattern.
final class LinearPatternTests: XCTestCase {
    /// Patterns that users write today, checked against Swift's backtracking `Regex` (the matcher
    /// this one replaced) on texts where that one finishes: the same verdict every time.
    func testAgreesWithSwiftRegexOnTheSyntaxBothSpeak() throws {
        let patterns = [
            "worker\\.py --plugin=ocr", "--name=(ocr|asr)$", "^/usr/bin/python3", "worker --id=\\d+", "\\bocr\\b",
            "^(a+)+$", "a{2,3}b", "a{2}", "a{2,}c", "[a-c]+x", "[^ ]+ -m", "(?i)OCR", "(?:ab|cd)*e", "^$", "x?y",
            "\\s--", "\\w+=\\w+", "[[:digit:]]+$", "a.c", "^.*$", "\\Bcr", "(foo|foobar)baz", "[.]py", "\\$HOME",
            "a|", "(a|b|)c", "[-a]z", "\\x41", "caf\u{e9}", "(?i:A)b", "ab*?c", "[\\d\\s]+",
        ]
        let texts = [
            "", "worker.py --plugin=ocr", "workerXpy --plugin=ocr", "/usr/bin/python3 -m plugin --name=ocr", "python3 --name=ocrx",
            "worker --id=42", "worker --id=", "run ocr now", "runocr", "aaaa", "aaab", "aab", "ab", "aac", "aaac", "abx", "bcx",
            "ocr", "OcR", "ababcde", "e", "y", "xy", "a --b", "key=value", "123", "abc", "acrosscr", "foobarbaz", "foobaz",
            "main.py", "$HOME", "c", "bc", "-z", "]", "A", "café", "Ab", "ab", "abbbc", " 1 ", "\u{e9}",
        ]
        for pattern in patterns {
            let ours = try LinearPattern(pattern)
            let swift = try Regex(pattern)
            for text in texts {
                XCTAssertEqual(ours.matches(text), text.contains(swift), "\(pattern) on \"\(text)\"")
            }
        }
    }

    func testNestedQuantifiersOnAnAdversarialLineFinishAndAnswerRight() throws {
        // 2^40 paths for a backtracking matcher; one pass over the text for this one.
        let adversarial = String(repeating: "a", count: 40) + "b"
        XCTAssertFalse(try LinearPattern("^(a+)+$").matches(adversarial))
        XCTAssertTrue(try LinearPattern("(a*)*$").matches(adversarial + "c"))
        XCTAssertTrue(try LinearPattern("^(a+)+b$").matches(adversarial))
        XCTAssertFalse(try LinearPattern("^(a|aa)+$").matches(String(repeating: "a", count: 20_000) + "b"))
        XCTAssertTrue(try LinearPattern("^(a|aa)+$").matches(String(repeating: "a", count: 20_000)))
    }

    func testPatternsThatNeedBacktrackingAreRefusedSayingWhy() {
        let refused: [(String, String)] = [
            ("(a)\\1", "a back-reference (\\1), which needs backtracking"),
            ("foo(?=bar)", "look-ahead, which needs backtracking"),
            ("(?<!x)y", "look-behind, which needs backtracking"),
            ("(unclosed", "missing ) to close the group at offset 9"),
            ("a)", "unmatched ) at offset 1"),
            ("a**", "a repetition of a repetition"),
            ("*a", "a repetition of nothing (*) at offset 0"),
            ("a{1001}", "a counted repetition above 1000"),
            ("a{3,2}", "whose maximum is below its minimum"),
            ("[z-a]", "the range z-a runs backwards"),
            ("[abc", "missing ] to close the bracket expression"),
            ("\\pL", "Unicode classes (\\p) are not supported"),
            ("\\q", "an unknown escape \\q"),
            ("((((a{1000}){1000})))", "the pattern is too large"),
        ]
        for (pattern, message) in refused {
            XCTAssertThrowsError(try LinearPattern(pattern), pattern) { error in
                XCTAssertTrue((error as? PatternError)?.message.contains(message) == true, "\(pattern): \(error)")
            }
        }
    }

    /// A pattern's required run of plain characters turns a command line down before the automaton runs.
    func testARequiredLiteralIsFoundBeforeTheAutomatonRuns() throws {
        XCTAssertEqual(try LinearPattern("transcode\\.py --worker=\\d+").requiredLiteral, Array("transcode.py --worker=".utf8))
        XCTAssertEqual(try LinearPattern("^(a+)+$").requiredLiteral, [])
        XCTAssertEqual(try LinearPattern("(?i)ocr").requiredLiteral, [], "a case-insensitive letter is not one byte")
        XCTAssertEqual(try LinearPattern("x|y").requiredLiteral, [])
        XCTAssertEqual(try LinearPattern("é-worker").requiredLiteral, Array("é-worker".utf8))
        let pattern = try LinearPattern("--plugin=ocr\\b")
        let long = String(repeating: "-", count: 40_000)
        XCTAssertFalse(pattern.matches(long + " --plugin=ocrx"))
        XCTAssertTrue(pattern.matches(long + " --plugin=ocr"))
        XCTAssertTrue(pattern.matches("--plugin=ocr"))
        XCTAssertFalse(pattern.matches("--plugin=oc"))
        XCTAssertFalse(pattern.matches(""))
    }

    func testMatcherErrorNamesThePatternAndTheReason() {
        XCTAssertThrowsError(try ProcessMatcher(.commandLine("x(?=y)"))) { error in
            XCTAssertEqual("\(error)", "cmdline pattern \"x(?=y)\" is not a regular expression: look-ahead, which needs backtracking; match the text itself instead at offset 4")
        }
    }

    func testMultiLineAndDotAllFlags() throws {
        XCTAssertFalse(try LinearPattern("a.b").matches("a\nb"))
        XCTAssertTrue(try LinearPattern("(?s)a.b").matches("a\nb"))
        XCTAssertFalse(try LinearPattern("^b").matches("a\nb"))
        XCTAssertTrue(try LinearPattern("(?m)^b$").matches("a\nb\nc"))
    }
}
