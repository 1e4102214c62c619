import Foundation
import XCTest
@testable import VigilSidecar

/// The YAML reader on its own: the trees it builds (text, quoting style, lines), the YAML it
/// refuses, and every YAML file the repository ships.
final class YAMLReaderTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A node as compact text: a plain scalar bare (p"…" when it holds blanks or brackets), a
    /// double-quoted one "…", a single-quoted one '…', block scalars |"…" and >"…" (Swift's
    /// escapes inside the double quotes).
    func tree(_ node: Node?) -> String {
        guard let node else { return "nil" }
        switch node {
        case .scalar(let s):
            switch s.style {
            case .plain:
                let bare = !s.string.isEmpty && !s.string.contains(where: { " \n,[]{}\"".contains($0) })
                return bare ? s.string : "p" + s.string.debugDescription
            case .singleQuoted: return "'\(s.string)'"
            case .doubleQuoted: return s.string.debugDescription
            case .literal: return "|" + s.string.debugDescription
            case .folded: return ">" + s.string.debugDescription
            }
        case .mapping(let m): return "{" + m.map { "\(tree($0.key)): \(tree($0.value))" }.joined(separator: ", ") + "}"
        case .sequence(let s): return "[" + s.map { tree($0) }.joined(separator: ", ") + "]"
        }
    }

    func read(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            return tree(try YAMLReader.compose(text))
        } catch {
            XCTFail("\(text.debugDescription): \(error)", file: file, line: line)
            return ""
        }
    }

    func testBlockCollections() {
        XCTAssertEqual(read("a: 1\nb:\n  - x\n  - y: 2\n    z: 3\n"), "{a: 1, b: [x, {y: 2, z: 3}]}")
        // A list may sit at its key's own indentation.
        XCTAssertEqual(read("a:\n- x\n- y\nb: c\n"), "{a: [x, y], b: c}")
        XCTAssertEqual(read("- a\n- - b\n  - c\n- d: 1\n  e:\n    - f\n"), "[a, [b, c], {d: 1, e: [f]}]")
        XCTAssertEqual(read("a:\n  b:\n    c: d\n  e: f\ng: h\n"), "{a: {b: {c: d}, e: f}, g: h}")
        XCTAssertEqual(read("empty:\nnext: 1\n"), "{empty: p\"\", next: 1}")
        XCTAssertEqual(read("key with spaces: v # comment\n\"quoted key\": 'v'\n'single': \"x\"\n"),
                       "{p\"key with spaces\": v, \"quoted key\": 'v', 'single': \"x\"}")
    }

    func testQuotedKeysKeepTheirStyleAndText() throws {
        guard case .mapping(let m)? = try YAMLReader.compose("\"a: b\": 1\n'it''s': 2\n") else { return XCTFail("not a mapping") }
        XCTAssertEqual(m.keys.map(\.string), ["a: b", "it's"])
    }

    func testPlainScalars() {
        XCTAssertEqual(read("url: http://a:9091/x#frag\nk: a#b\nc: x # a comment\n"), "{url: http://a:9091/x#frag, k: a#b, c: x}")
        XCTAssertEqual(read("p: a plain\n  scalar over\n\n  lines\nq: x\n"), "{p: p\"a plain scalar over\\nlines\", q: x}")
        XCTAssertEqual(read("n: ~\nt: true\nd: 5s\nneg: -1\n"), "{n: ~, t: true, d: 5s, neg: -1}")
        XCTAssertEqual(read("top plain\n"), "p\"top plain\"")
        XCTAssertEqual(read("crlf: a\r\nb: c\r\n"), "{crlf: a, b: c}")
    }

    func testQuotedScalarsEscapesAndFolding() throws {
        XCTAssertEqual(read("s: \"a\\tb\\u00e9\\x41 \\\n  c\"\n"), "{s: \"a\\tbéA c\"}")
        XCTAssertEqual(read("s: \"one\n  two\n\n  three  \"\n"), "{s: \"one two\\nthree  \"}")
        XCTAssertEqual(read("s: 'it''s\n   folded'\n"), "{s: 'it's folded'}")
        XCTAssertEqual(try YAMLReader.compose("\"\\\"q\\\" \\\\ \\/ \\N\\_\\L\\P\\e\\0\\x7e\\U0001F600\"\n")?.string,
                       "\"q\" \\ / \u{85}\u{A0}\u{2028}\u{2029}\u{1B}\u{0}~\u{1F600}")
        XCTAssertEqual(read("h: \"v: w\"\n"), "{h: \"v: w\"}")
    }

    func testBlockScalars() {
        XCTAssertEqual(read("l: |\n  line1\n   more\n\n  line3\n\n\nm: x\n"), "{l: |\"line1\\n more\\n\\nline3\\n\", m: x}")
        XCTAssertEqual(read("l: |-\n  a\n  b\n\n"), "{l: |\"a\\nb\"}")
        XCTAssertEqual(read("l: |+\n  a\n  b\n\n\nn: 1\n"), "{l: |\"a\\nb\\n\\n\\n\", n: 1}")
        XCTAssertEqual(read("f: >\n  folded\n  text\n\n  para\n    indented\n  back\n"), "{f: >\"folded text\\npara\\n  indented\\nback\\n\"}")
        XCTAssertEqual(read("f: >-\n  a\n  b\n"), "{f: >\"a b\"}")
        XCTAssertEqual(read("e: |\n\n  after empty\n"), "{e: |\"\\nafter empty\\n\"}")
        XCTAssertEqual(read("l: |2\n    two extra\n  base\n"), "{l: |\"  two extra\\nbase\\n\"}")
        XCTAssertEqual(read("pem: |\n  -----BEGIN CERTIFICATE-----\n  MIIB\n  -----END CERTIFICATE-----\nkey: k\n"),
                       "{pem: |\"-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n\", key: k}")
        XCTAssertEqual(read("- |\n  in a list\n- b\n"), "[|\"in a list\\n\", b]")
    }

    func testFlowCollections() {
        XCTAssertEqual(read("flow: [a, \"b\", 'c', {d: e, f: [1, 2]}, ]\nm: {x: 1, y: , z}\n"),
                       "{flow: [a, \"b\", 'c', {d: e, f: [1, 2]}], m: {x: 1, y: p\"\", z: p\"\"}}")
        XCTAssertEqual(read("multi: [a,\n  b, # comment\n  c]\n"), "{multi: [a, b, c]}")
        XCTAssertEqual(read("j: {\"a\":1, \"b\": [true]}\n"), "{j: {\"a\": 1, \"b\": [true]}}")
        XCTAssertEqual(read("e: []\nf: {}\n"), "{e: [], f: {}}")
    }

    func testDocumentMarkersAndEmptyDocuments() {
        XCTAssertEqual(read("---\na: 1\n...\n"), "{a: 1}")
        XCTAssertEqual(read("--- |\n  doc\n"), "|\"doc\\n\"")
        XCTAssertEqual(read("# only a comment\n"), "nil")
        XCTAssertEqual(read(""), "nil")
        XCTAssertEqual(read("\u{FEFF}a: 1\n"), "{a: 1}")
    }

    func testMarksAreWhereEachNodeStarts() throws {
        let text = "# c\nplugins:\n  - name: ocr\n    match:\n      - comm: [x, y]\n    pem: |\n      text\n"
        guard case .mapping(let top)? = try YAMLReader.compose(text),
              case .sequence(let plugins) = top[0].value, case .mapping(let plugin) = plugins[0],
              case .sequence(let match) = plugin[1].value, case .mapping(let rule) = match[0],
              case .sequence(let comms) = rule[0].value else { return XCTFail("unexpected shape") }
        XCTAssertEqual(top.mark.line, 2)
        XCTAssertEqual(top[0].key.mark?.line, 2)
        XCTAssertEqual(plugins.mark.line, 3)
        XCTAssertEqual(plugins.mark.column, 3)
        XCTAssertEqual(plugin.mark.line, 3)
        XCTAssertEqual(plugin.mark.column, 5)
        XCTAssertEqual(plugin[0].value.mark?.line, 3)
        XCTAssertEqual(plugin[0].value.mark?.column, 11)
        XCTAssertEqual(match.mark.line, 5)
        XCTAssertEqual(comms.mark.line, 5)
        XCTAssertEqual(comms[1].mark?.column, 19)
        XCTAssertEqual(plugin[2].value.mark?.line, 6)
    }

    /// Each malformed or unsupported document fails with its message at the exact line.
    func testErrorsSayWhatAndWhere() {
        let cases: [(String, Int, String)] = [
            ("a: 1\na: 2\n", 2, "key \"a\" is given twice (first at line 1); keep one"),
            ("m: {x: 1, x: 2}\n", 1, "key \"x\" is given twice"),
            ("a:\n\tb: 1\n", 2, "a tab in the indentation; indent with spaces"),
            ("a: &anchor 1\n", 1, "unsupported YAML feature at line 1 column 4: anchors"),
            ("a: *anchor\n", 1, "unsupported YAML feature at line 1 column 4: aliases"),
            ("a: !!str 1\n", 1, "unsupported YAML feature at line 1 column 4: tags"),
            ("? a\n: b\n", 1, "unsupported YAML feature at line 1 column 1: complex keys"),
            ("%YAML 1.2\n---\na: 1\n", 1, "unsupported YAML feature at line 1 column 1: directives"),
            ("a: 1\n---\nb: 2\n", 2, "unsupported YAML feature at line 2 column 1: several documents"),
            ("a: [1, 2\n", 2, "the list opened with [ at line 1 column 4 is not closed"),
            ("a: {b: 1\n", 2, "the mapping opened with { at line 1 column 4 is not closed"),
            ("a: [[1] 2]\n", 1, "expected , or ] in the list opened at line 1 column 4"),
            ("a: \"open\nb: 1\n", 3, "the double-quoted value that starts at line 1 column 4 is not closed"),
            ("a: \"\\q\"\n", 1, "\\q is not a YAML escape"),
            ("a: b: c\n", 1, "a mapping cannot start on the same line as its key"),
            ("a: - b\n", 1, "a list cannot start on the same line as its key"),
            ("a: 1\n  b: 2\n", 2, "\": \" inside a value"),
            ("a:\n  b: 1\n    c: 2\n", 3, "\": \" inside a value"),
            ("a:\n  b:\n    - 1\n  - 2\n", 4, "a list item where a key was expected"),
            ("- a\nb: 1\n", 2, "unexpected text"),
            ("a: 'x' y\n", 1, "unexpected text after the value"),
            ("a: | x\n", 1, "expected the end of the line after |"),
            ("a:\n  - x: 1\n   - 2\n", 3, "indented deeper than the items of its list (line 2)"),
        ]
        for (text, line, message) in cases {
            XCTAssertThrowsError(try YAMLReader.compose(text), text.debugDescription) { error in
                guard let error = error as? YAMLError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.mark.line, line, "\(text.debugDescription): \(error)")
                XCTAssertTrue("\(error)".contains(message), "\(text.debugDescription)\ngot:      \(error)\nexpected: \(message)")
            }
        }
    }

    /// ConfigReader turns a YAML error into the file:line form of every other config error.
    func testConfigErrorsCarryTheYAMLLine() {
        XCTAssertThrowsError(try SidecarConfig.parse("listen: 1\nlisten: 2\n", file: "v.yml")) { error in
            XCTAssertEqual("\(error)", "v.yml:2: not valid YAML: key \"listen\" is given twice (first at line 1); keep one at line 2 column 1")
        }
        XCTAssertThrowsError(try WebConfigFile.parse("basic_auth_users: &users\n", file: "web.yml")) { error in
            XCTAssertTrue("\(error)".hasPrefix("web.yml:1: not valid YAML: unsupported YAML feature at line 1 column 19: anchors"), "\(error)")
        }
    }

    /// Every YAML file the repository ships reads, and so do the vigil.yml and web.yml that the
    /// Kubernetes manifests embed; the embedded vigil.yml files are valid sidecar configs.
    func testEveryShippedYAMLFileReads() throws {
        var files: [String] = []
        for directory in ["config", "deploy", "alerts"] {
            let walker = FileManager.default.enumerator(atPath: Self.root.appendingPathComponent(directory).path)
            while let file = walker?.nextObject() as? String {
                if file.hasSuffix(".yml") || file.hasSuffix(".yaml") { files.append(directory + "/" + file) }
            }
        }
        XCTAssertTrue(files.contains("config/vigil.yml") && files.contains("deploy/kubernetes/sidecar/configmap.yaml"), "\(files)")
        var embedded = 0
        for file in files {
            let text = try String(contentsOf: Self.root.appendingPathComponent(file), encoding: .utf8)
            let node: Node?
            do { node = try YAMLReader.compose(text) } catch { XCTFail("\(file): \(error)"); continue }
            guard case .mapping(let top)? = node else { continue }
            for (key, value) in top where ["data", "stringData"].contains(key.string) {
                guard case .mapping(let data) = value else { continue }
                for (name, content) in data {
                    guard case .scalar(let scalar) = content, scalar.style == .literal else { continue }
                    switch name.string {
                    case "vigil.yml":
                        embedded += 1
                        XCTAssertNoThrow(try SidecarConfig.parse(scalar.string, file: "\(file):vigil.yml"))
                    case "web.yml":
                        embedded += 1
                        XCTAssertNoThrow(try WebConfigFile.parse(scalar.string, file: "\(file):web.yml"))
                    default: continue
                    }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(embedded, 3)
    }
}
