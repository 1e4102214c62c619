/// Reads one YAML document into a `Node` tree: what vigil.yml, the exporter-toolkit web config
/// and the Kubernetes manifests that embed them use. Block mappings and sequences (a sequence may
/// sit at its key's indentation), plain, single- and double-quoted scalars with YAML's escapes and
/// line folding, `|` and `>` block scalars with their chomping and indentation indicators, flow
/// `[…]` and `{…}` collections across lines, comments, `---` and `...` around the document.
///
/// Refused, each with its line and column: a key given twice, tabs in indentation, and the YAML
/// that configuration files do not need, which would otherwise be read wrong silently: anchors,
/// aliases, tags, `?` complex keys, directives and several documents in one file.
///
/// Bounded for a file someone else may have written: collections nest at most `maximumDepth`
/// deep (the reader recurses once a level, so `[[[[…` fifty thousand deep is an error at its line,
/// not a stack overflow), and a position's column is counted once a line, not once a node.
///
/// Scalars are not resolved to types: the config code reads each value's text as what it expects
/// (`5s`, `true`, `0.5`) and says so when it is not; `Node.Scalar.style` tells a plain `null`
/// from a quoted one.
struct YAMLReader {
    let bytes: [UInt8]
    var pos = 0
    var line = 1
    var lineStart = 0
    /// The collections open around the position.
    var depth = 0
    /// The column of `columnPos` on `columnLine`: `mark` counts on from there on the same line.
    var columnLine = 0
    var columnPos = 0
    var columnCount = 1

    /// How deep collections may nest (block and flow alike); vigil's own files need six.
    static let maximumDepth = 64

    private init(_ text: String) { bytes = Array(text.utf8) }

    /// The document in `text`; nil when it holds no node (empty, or only comments).
    static func compose(_ text: String) throws(YAMLError) -> Node? {
        var reader = YAMLReader(text)
        return try reader.document()
    }

    // MARK: The document

    mutating func document() throws(YAMLError) -> Node? {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { pos = 3; lineStart = 3 }
        try skipToContent()
        if byte == UInt8(ascii: "%") {
            throw unsupported("directives (%YAML, %TAG); remove the line")
        }
        var node: Node?
        if atDocumentMarker("---") {
            pos += 3
            skipInlineSpace()
            if atLineEnd {
                try skipToContent()
                node = try blockNode(parentIndent: -1)
            } else {
                node = try nodeHere(parentIndent: -1, compact: false)
            }
        } else {
            node = try blockNode(parentIndent: -1)
        }
        try skipToContent()
        var ended = false
        if atDocumentMarker("...") {
            pos += 3
            ended = true
            try skipToContent()
        }
        if pos >= bytes.count { return node }
        if ended || atDocumentMarker("---") {
            throw unsupported("several documents in one file; keep one (vigil reads one document)")
        }
        throw syntax("unexpected text; check this line's indentation against the lines above it")
    }

    // MARK: Block structure

    /// The node whose first line is the one at the position (which `skipToContent` reached),
    /// when that line is indented deeper than `parentIndent`; nil otherwise (an empty value).
    mutating func blockNode(parentIndent: Int) throws(YAMLError) -> Node? {
        guard pos < bytes.count, !atDocumentMarker("---"), !atDocumentMarker("..."), indent > parentIndent else { return nil }
        return try nodeHere(parentIndent: parentIndent, compact: true)
    }

    /// The node that starts at the position. `compact`: a block mapping or sequence may start
    /// here (at the start of a line, or after `- `), which it may not right after `key: `.
    mutating func nodeHere(parentIndent: Int, compact: Bool) throws(YAMLError) -> Node {
        try refuseUnsupportedIndicator()
        let column = indent
        if byte == UInt8(ascii: "-"), isBlankOrEnd(at: pos + 1) {
            guard compact else { throw syntax("a list cannot start on the same line as its key; start it on the next line, indented") }
            return try blockSequence(indent: column)
        }
        if isMappingKeyAhead() {
            guard compact else {
                throw syntax("a mapping cannot start on the same line as its key; put it on the next line, indented, or quote the value if it holds \": \"")
            }
            return try blockMapping(indent: column)
        }
        let node: Node
        switch byte {
        case UInt8(ascii: "["), UInt8(ascii: "{"): node = try flowNode()
        case UInt8(ascii: "\""), UInt8(ascii: "'"): node = try quoted()
        case UInt8(ascii: "|"), UInt8(ascii: ">"): return try blockScalar(parentIndent: parentIndent)
        case UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"):
            throw syntax("\(String(decoding: [bytes[pos]], as: UTF8.self)) cannot start a value; quote the value")
        default: return try plain(parentIndent: parentIndent)
        }
        skipInlineSpace()
        guard atLineEnd else { throw syntax("unexpected text after the value; put a comment after \" #\"") }
        return node
    }

    mutating func blockMapping(indent n: Int) throws(YAMLError) -> Node {
        let mappingMark = mark
        try enterCollection()
        defer { depth -= 1 }
        var pairs: [(key: Node, value: Node)] = []
        var seen: [String: Node.Mark] = [:]
        while true {
            try refuseUnsupportedIndicator()
            if byte == UInt8(ascii: "-"), isBlankOrEnd(at: pos + 1) {
                throw syntax("a list item where a key was expected; indent the list under its key")
            }
            guard isMappingKeyAhead() else { throw syntax("expected a key (name: value) at this indentation") }
            let key = try blockKey()
            skipInlineSpace()
            pos += 1 // the ":" that isMappingKeyAhead found
            let value = try valueAfterIndicator(indent: n, sequenceAtSameIndent: true, compact: false)
            try remember(key, in: &seen)
            pairs.append((key, value))
            try skipToContent()
            if pos >= bytes.count || atDocumentMarker("---") || atDocumentMarker("...") || indent < n { break }
            if indent > n {
                throw syntax("this line is indented deeper than the keys of its mapping (line \(mappingMark.line)); align it with them or move it under a key that has no value")
            }
        }
        return .mapping(Node.Mapping(pairs: pairs, mark: mappingMark))
    }

    mutating func blockSequence(indent n: Int) throws(YAMLError) -> Node {
        let sequenceMark = mark
        try enterCollection()
        defer { depth -= 1 }
        var nodes: [Node] = []
        while true {
            pos += 1 // "-"
            nodes.append(try valueAfterIndicator(indent: n, sequenceAtSameIndent: false, compact: true))
            try skipToContent()
            if pos >= bytes.count || atDocumentMarker("---") || atDocumentMarker("...") || indent < n { break }
            if indent == n {
                if byte == UInt8(ascii: "-"), isBlankOrEnd(at: pos + 1) { continue }
                break // the next key of the mapping this list is the value of
            }
            throw syntax("this line is indented deeper than the items of its list (line \(sequenceMark.line)); align it with them")
        }
        return .sequence(Node.Sequence(nodes: nodes, mark: sequenceMark))
    }

    /// The value after a mapping's `:` or a list's `-` in a collection indented `n`: on the same
    /// line, or on the lines below when indented deeper (or, for a mapping's value, a list at the
    /// key's own indentation); an empty plain scalar when there is none.
    mutating func valueAfterIndicator(indent n: Int, sequenceAtSameIndent: Bool, compact: Bool) throws(YAMLError) -> Node {
        let emptyMark = mark
        skipInlineSpace()
        if !atLineEnd { return try nodeHere(parentIndent: n, compact: compact) }
        try skipToContent()
        if let node = try blockNode(parentIndent: n) { return node }
        if sequenceAtSameIndent, pos < bytes.count, indent == n, byte == UInt8(ascii: "-"), isBlankOrEnd(at: pos + 1) {
            return try blockSequence(indent: n)
        }
        return .scalar(Node.Scalar(string: "", style: .plain, mark: emptyMark))
    }

    /// A block mapping's key: a quoted or a plain scalar on one line.
    mutating func blockKey() throws(YAMLError) -> Node {
        if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") { return try quoted() }
        let keyMark = mark, start = pos
        while !(byte == UInt8(ascii: ":") && isBlankOrEnd(at: pos + 1)) { pos += 1 }
        var end = pos
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        return .scalar(Node.Scalar(string: text(start..<end), style: .plain, mark: keyMark))
    }

    /// Whether the line from the position holds `key:` (a plain or one-line quoted key, then a
    /// colon and a blank), before any comment.
    func isMappingKeyAhead() -> Bool {
        var i = pos
        if let quote = byte, quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") {
            i += 1
            while i < bytes.count, !isBreak(bytes[i]) {
                if bytes[i] == quote {
                    if quote == UInt8(ascii: "'"), i + 1 < bytes.count, bytes[i + 1] == quote { i += 2; continue }
                    break
                }
                i += quote == UInt8(ascii: "\"") && bytes[i] == UInt8(ascii: "\\") ? 2 : 1
            }
            guard i < bytes.count, bytes[i] == quote else { return false }
            i += 1
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 }
            return i < bytes.count && bytes[i] == UInt8(ascii: ":") && isBlankOrEnd(at: i + 1)
        }
        if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") { return false }
        while i < bytes.count, !isBreak(bytes[i]) {
            if bytes[i] == UInt8(ascii: "#"), i > pos, bytes[i - 1] == 0x20 || bytes[i - 1] == 0x09 { return false }
            if bytes[i] == UInt8(ascii: ":"), isBlankOrEnd(at: i + 1) { return true }
            i += 1
        }
        return false
    }

    func remember(_ key: Node, in seen: inout [String: Node.Mark]) throws(YAMLError) {
        guard case .scalar(let scalar) = key else { return }
        if let first = seen[scalar.string] {
            throw YAMLError(kind: .syntax, mark: scalar.mark, message: "key \"\(scalar.string.count > 64 ? scalar.string.prefix(64) + "…" : scalar.string)\" is given twice (first at line \(first.line)); keep one")
        }
        seen[scalar.string] = scalar.mark
    }

    // MARK: Flow collections

    /// A node inside (or opening) a flow collection.
    mutating func flowNode() throws(YAMLError) -> Node {
        try skipFlowSpace()
        try refuseUnsupportedIndicator()
        switch byte {
        case UInt8(ascii: "["): return try flowSequence()
        case UInt8(ascii: "{"): return try flowMapping()
        case UInt8(ascii: "\""), UInt8(ascii: "'"): return try quoted()
        case nil: throw syntax("the file ends where a value was expected")
        case UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"): throw syntax("a value was expected before \"\(String(decoding: [bytes[pos]], as: UTF8.self))\"")
        default: return try flowPlain()
        }
    }

    mutating func flowSequence() throws(YAMLError) -> Node {
        let open = mark
        try enterCollection()
        defer { depth -= 1 }
        pos += 1
        var nodes: [Node] = []
        while true {
            try skipFlowSpace()
            guard pos < bytes.count else { throw syntax("the list opened with [ at \(open) is not closed; add ]") }
            if byte == UInt8(ascii: "]") { pos += 1; break }
            nodes.append(try flowNode())
            try skipFlowSpace()
            if byte == UInt8(ascii: ":") { throw unsupported("key: value pairs inside [ ]; write them as {key: value}") }
            if byte == UInt8(ascii: ",") { pos += 1; continue }
            if byte == UInt8(ascii: "]") { pos += 1; break }
            guard pos < bytes.count else { throw syntax("the list opened with [ at \(open) is not closed; add ]") }
            throw syntax("expected , or ] in the list opened at \(open)")
        }
        return .sequence(Node.Sequence(nodes: nodes, mark: open))
    }

    mutating func flowMapping() throws(YAMLError) -> Node {
        let open = mark
        try enterCollection()
        defer { depth -= 1 }
        pos += 1
        var pairs: [(key: Node, value: Node)] = []
        var seen: [String: Node.Mark] = [:]
        while true {
            try skipFlowSpace()
            guard pos < bytes.count else { throw syntax("the mapping opened with { at \(open) is not closed; add }") }
            if byte == UInt8(ascii: "}") { pos += 1; break }
            let key = try flowNode()
            guard case .scalar = key else { throw YAMLError(kind: .unsupported, mark: key.mark ?? open, message: "a list or mapping as a key; keys are names") }
            try skipFlowSpace()
            var value = Node.scalar(Node.Scalar(string: "", style: .plain, mark: mark))
            if byte == UInt8(ascii: ":") {
                pos += 1
                try skipFlowSpace()
                value = Node.scalar(Node.Scalar(string: "", style: .plain, mark: mark))
                if byte != UInt8(ascii: ",") && byte != UInt8(ascii: "}") { value = try flowNode() }
                try skipFlowSpace()
            }
            try remember(key, in: &seen)
            pairs.append((key, value))
            if byte == UInt8(ascii: ",") { pos += 1; continue }
            if byte == UInt8(ascii: "}") { pos += 1; break }
            guard pos < bytes.count else { throw syntax("the mapping opened with { at \(open) is not closed; add }") }
            throw syntax("expected , or } in the mapping opened at \(open)")
        }
        return .mapping(Node.Mapping(pairs: pairs, mark: open))
    }

    /// A plain scalar inside a flow collection: it ends at `,`, a bracket, `: ` or ` #`, and is
    /// folded over line breaks like a block one.
    mutating func flowPlain() throws(YAMLError) -> Node {
        let scalarMark = mark
        var result = ""
        while true {
            let start = pos
            while pos < bytes.count, !isBreak(bytes[pos]) {
                let b = bytes[pos]
                if b == UInt8(ascii: ",") || b == UInt8(ascii: "[") || b == UInt8(ascii: "]") || b == UInt8(ascii: "{") || b == UInt8(ascii: "}") { break }
                if b == UInt8(ascii: "#"), pos > start, bytes[pos - 1] == 0x20 || bytes[pos - 1] == 0x09 { break }
                if b == UInt8(ascii: ":"), isBlankOrEnd(at: pos + 1) || pos + 1 < bytes.count && Self.isFlowIndicator(bytes[pos + 1]) { break }
                pos += 1
            }
            var end = pos
            while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
            result += text(start..<end)
            guard pos < bytes.count, isBreak(bytes[pos]) else { break }
            var probe = self
            var emptyLines = 0
            while probe.pos < probe.bytes.count, probe.isBreak(probe.bytes[probe.pos]) {
                probe.newline()
                probe.skipInlineSpace()
                if probe.pos < probe.bytes.count, probe.isBreak(probe.bytes[probe.pos]) { emptyLines += 1 }
            }
            guard let next = probe.byte, !Self.isFlowIndicator(next), next != UInt8(ascii: "#"), next != UInt8(ascii: ":") else { break }
            self = probe
            result += emptyLines == 0 ? " " : String(repeating: "\n", count: emptyLines)
        }
        return .scalar(Node.Scalar(string: result, style: .plain, mark: scalarMark))
    }

    static func isFlowIndicator(_ b: UInt8) -> Bool {
        b == UInt8(ascii: ",") || b == UInt8(ascii: "[") || b == UInt8(ascii: "]") || b == UInt8(ascii: "{") || b == UInt8(ascii: "}")
    }

    // MARK: Whitespace, comments, positions

    var byte: UInt8? { pos < bytes.count ? bytes[pos] : nil }

    /// Columns before the position on its line (the indentation, when the position is the
    /// line's first content).
    var indent: Int { pos - lineStart }

    /// Where the position is, its column counted on from the last mark on the line (a line of
    /// a million flow items costs one pass, not one per item).
    var mark: Node.Mark {
        mutating get {
            let end = min(pos, bytes.count)
            if columnLine != line || columnPos < lineStart || columnPos > end {
                (columnLine, columnPos, columnCount) = (line, lineStart, 1)
            }
            for b in bytes[columnPos..<end] where b & 0xC0 != 0x80 { columnCount += 1 }
            columnPos = end
            return Node.Mark(line: line, column: columnCount)
        }
    }

    /// `mark` for an error, counted from the line's start.
    var errorMark: Node.Mark {
        var column = 1
        for b in bytes[lineStart..<min(pos, bytes.count)] where b & 0xC0 != 0x80 { column += 1 }
        return Node.Mark(line: line, column: column)
    }

    /// One more collection open; an error past `maximumDepth`.
    mutating func enterCollection() throws(YAMLError) {
        guard depth < Self.maximumDepth else {
            throw syntax("lists and mappings nest deeper than \(Self.maximumDepth) levels here; vigil's configuration needs a few, so this file is not one (check its brackets and indentation)")
        }
        depth += 1
    }

    func isBreak(_ b: UInt8) -> Bool { b == 0x0A || b == 0x0D }

    func isBlankOrEnd(at i: Int) -> Bool {
        i >= bytes.count || bytes[i] == 0x20 || bytes[i] == 0x09 || isBreak(bytes[i])
    }

    /// At a line break, the end of the text or a comment.
    var atLineEnd: Bool {
        guard let b = byte else { return true }
        return isBreak(b) || b == UInt8(ascii: "#") && (pos == lineStart || bytes[pos - 1] == 0x20 || bytes[pos - 1] == 0x09)
    }

    func atDocumentMarker(_ marker: String) -> Bool {
        pos == lineStart && bytes[pos...].starts(with: marker.utf8) && isBlankOrEnd(at: pos + 3)
    }

    var lineHasTabIndentation: Bool { bytes[lineStart..<pos].contains(0x09) }

    mutating func newline() {
        if bytes[pos] == 0x0D, pos + 1 < bytes.count, bytes[pos + 1] == 0x0A { pos += 1 }
        pos += 1
        line += 1
        lineStart = pos
    }

    mutating func skipInlineSpace() {
        while pos < bytes.count, bytes[pos] == 0x20 || bytes[pos] == 0x09 { pos += 1 }
    }

    mutating func skipComment() {
        while pos < bytes.count, !isBreak(bytes[pos]) { pos += 1 }
    }

    /// Past spaces, comments and line breaks to the next content, which must not be indented
    /// with tabs.
    mutating func skipToContent() throws(YAMLError) {
        while true {
            skipInlineSpace()
            guard let b = byte else { return }
            if atLineEnd, b == UInt8(ascii: "#") { skipComment(); continue }
            if isBreak(b) { newline(); continue }
            if bytes[lineStart..<pos].allSatisfy({ $0 == 0x20 || $0 == 0x09 }), lineHasTabIndentation {
                throw syntax("a tab in the indentation; indent with spaces")
            }
            return
        }
    }

    /// Inside a flow collection: past spaces, tabs, line breaks and comments.
    mutating func skipFlowSpace() throws(YAMLError) {
        while let b = byte {
            if b == 0x20 || b == 0x09 { pos += 1 } else if isBreak(b) { newline() } else if atLineEnd { skipComment() } else { return }
        }
    }

    func refuseUnsupportedIndicator() throws(YAMLError) {
        switch byte {
        case UInt8(ascii: "&"): throw unsupported("anchors (&name); write the value out where it is needed")
        case UInt8(ascii: "*"): throw unsupported("aliases (*name); write the value out where it is needed")
        case UInt8(ascii: "!"): throw unsupported("tags (!tag); vigil reads each value as written, quote it if it starts with !")
        case UInt8(ascii: "?") where isBlankOrEnd(at: pos + 1): throw unsupported("complex keys (? key); write key: value")
        case UInt8(ascii: "%") where pos == lineStart: throw unsupported("directives (%YAML, %TAG); remove the line")
        case UInt8(ascii: "@"), UInt8(ascii: "`"): throw syntax("\(String(decoding: [bytes[pos]], as: UTF8.self)) cannot start a value; quote the value")
        default: return
        }
    }

    func text(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }

    func syntax(_ message: String) -> YAMLError { YAMLError(kind: .syntax, mark: errorMark, message: message) }

    func unsupported(_ message: String) -> YAMLError { YAMLError(kind: .unsupported, mark: errorMark, message: message) }
}
