// The scalars of YAMLReader: plain, quoted (with YAML's escapes) and block scalars, each folded
// or kept as YAML says. The block structure, flow collections and positions are in YAMLReader.swift.
extension YAMLReader {
    /// A plain scalar in block context, folded over the lines below it that are indented deeper
    /// than `parentIndent`.
    mutating func plain(parentIndent: Int) throws(YAMLError) -> Node {
        let scalarMark = mark
        var result = ""
        while true {
            let start = pos
            var endedByComment = false
            while pos < bytes.count, !isBreak(bytes[pos]) {
                if bytes[pos] == UInt8(ascii: "#"), pos > start, bytes[pos - 1] == 0x20 || bytes[pos - 1] == 0x09 { endedByComment = true; break }
                if bytes[pos] == UInt8(ascii: ":"), isBlankOrEnd(at: pos + 1) {
                    throw syntax("\": \" inside a value; quote the value (\"…\") if it holds \": \", or put a nested mapping on its own lines")
                }
                pos += 1
            }
            var end = pos
            while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
            result += text(start..<end)
            if endedByComment { skipComment(); break }
            // The next line continues the scalar if it is indented deeper than its parent and is
            // neither a comment nor a document marker.
            var probe = self
            var emptyLines = 0
            guard probe.pos < probe.bytes.count else { break }
            probe.newline()
            while true {
                probe.skipInlineSpace()
                guard probe.pos < probe.bytes.count, probe.isBreak(probe.bytes[probe.pos]) else { break }
                emptyLines += 1
                probe.newline()
            }
            guard probe.pos < probe.bytes.count, probe.indent > parentIndent, probe.byte != UInt8(ascii: "#"),
                  !probe.atDocumentMarker("---"), !probe.atDocumentMarker("...") else { break }
            if probe.lineHasTabIndentation { throw probe.syntax("a tab in the indentation; indent with spaces") }
            self = probe
            result += emptyLines == 0 ? " " : String(repeating: "\n", count: emptyLines)
        }
        return .scalar(Node.Scalar(string: result, style: .plain, mark: scalarMark))
    }

    /// A single- or double-quoted scalar, which may run over several lines (folded as YAML
    /// folds them: a line break is a space, an empty line a newline).
    mutating func quoted() throws(YAMLError) -> Node {
        let scalarMark = mark
        let quote = bytes[pos]
        let double = quote == UInt8(ascii: "\"")
        pos += 1
        var out: [UInt8] = []
        var whitespace: [UInt8] = [] // kept only if something other than a line break follows
        while true {
            guard pos < bytes.count else {
                throw syntax("the \(double ? "double" : "single")-quoted value that starts at \(scalarMark) is not closed; add the closing \(double ? "\"" : "'")")
            }
            let b = bytes[pos]
            if b == quote {
                if !double, pos + 1 < bytes.count, bytes[pos + 1] == quote {
                    out += whitespace; whitespace = []
                    out.append(quote); pos += 2
                    continue
                }
                pos += 1
                out += whitespace
                break
            }
            if isBreak(b) {
                whitespace = []
                newline()
                var emptyLines = 0
                while true {
                    skipInlineSpace()
                    guard pos < bytes.count, isBreak(bytes[pos]) else { break }
                    emptyLines += 1
                    newline()
                }
                out += emptyLines == 0 ? [0x20] : Array(repeating: 0x0A, count: emptyLines)
                continue
            }
            if b == 0x20 || b == 0x09 { whitespace.append(b); pos += 1; continue }
            out += whitespace; whitespace = []
            if double, b == UInt8(ascii: "\\") {
                try escape(into: &out)
                continue
            }
            out.append(b); pos += 1
        }
        return .scalar(Node.Scalar(string: String(decoding: out, as: UTF8.self), style: double ? .doubleQuoted : .singleQuoted, mark: scalarMark))
    }

    /// One escape sequence of a double-quoted scalar, the backslash at the position.
    mutating func escape(into out: inout [UInt8]) throws(YAMLError) {
        let escapeMark = mark
        pos += 1
        guard pos < bytes.count else { throw syntax("a \\ at the end of the file; close the quoted value") }
        let c = bytes[pos]
        if isBreak(c) {
            // An escaped line break joins the lines with nothing between them.
            newline()
            skipInlineSpace()
            return
        }
        pos += 1
        let simple: [UInt8: UInt32] = [
            UInt8(ascii: "0"): 0, UInt8(ascii: "a"): 7, UInt8(ascii: "b"): 8, UInt8(ascii: "t"): 9, 0x09: 9,
            UInt8(ascii: "n"): 10, UInt8(ascii: "v"): 11, UInt8(ascii: "f"): 12, UInt8(ascii: "r"): 13,
            UInt8(ascii: "e"): 27, 0x20: 32, UInt8(ascii: "\""): 34, UInt8(ascii: "/"): 47, UInt8(ascii: "\\"): 92,
            UInt8(ascii: "N"): 0x85, UInt8(ascii: "_"): 0xA0, UInt8(ascii: "L"): 0x2028, UInt8(ascii: "P"): 0x2029,
        ]
        let digits: Int
        switch c {
        case UInt8(ascii: "x"): digits = 2
        case UInt8(ascii: "u"): digits = 4
        case UInt8(ascii: "U"): digits = 8
        default:
            guard let value = simple[c], let scalar = Unicode.Scalar(value) else {
                throw YAMLError(kind: .syntax, mark: escapeMark,
                                message: "\\\(String(decoding: [c], as: UTF8.self)) is not a YAML escape; write \\\\ for a backslash, or use single quotes")
            }
            out += Array(String(Character(scalar)).utf8)
            return
        }
        var value: UInt32 = 0
        for _ in 0..<digits {
            guard pos < bytes.count, let digit = Self.hexValue(bytes[pos]) else {
                throw YAMLError(kind: .syntax, mark: escapeMark, message: "\\\(String(decoding: [c], as: UTF8.self)) needs \(digits) hexadecimal digits")
            }
            value = value << 4 | digit
            pos += 1
        }
        guard let scalar = Unicode.Scalar(value) else {
            throw YAMLError(kind: .syntax, mark: escapeMark, message: "\\\(String(decoding: [c], as: UTF8.self)) names no Unicode character")
        }
        out += Array(String(Character(scalar)).utf8)
    }

    static func hexValue(_ b: UInt8) -> UInt32? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(b - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(b - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// A `|` (literal) or `>` (folded) block scalar: its header, then the lines below indented
    /// deeper than `parentIndent`.
    mutating func blockScalar(parentIndent: Int) throws(YAMLError) -> Node {
        let scalarMark = mark
        let literal = bytes[pos] == UInt8(ascii: "|")
        pos += 1
        enum Chomping { case strip, clip, keep }
        var chomping = Chomping.clip
        var explicitIndent: Int?
        for _ in 0..<2 {
            switch byte {
            case UInt8(ascii: "-"): chomping = .strip; pos += 1
            case UInt8(ascii: "+"): chomping = .keep; pos += 1
            case let b? where b >= UInt8(ascii: "1") && b <= UInt8(ascii: "9"): explicitIndent = Int(b - UInt8(ascii: "0")); pos += 1
            default: break
            }
        }
        skipInlineSpace()
        if byte == UInt8(ascii: "#"), bytes[pos - 1] == 0x20 || bytes[pos - 1] == 0x09 { skipComment() }
        guard pos >= bytes.count || isBreak(bytes[pos]) else {
            throw syntax("expected the end of the line after \(literal ? "|" : ">") (its indicators are -, + and an indentation digit)")
        }
        if pos < bytes.count { newline() }

        // The content's indentation: given, or that of the first line that is not empty.
        var contentIndent: Int
        if let explicitIndent {
            contentIndent = max(parentIndent, 0) + explicitIndent
        } else {
            var i = pos, spaces = 0
            contentIndent = parentIndent + 1
            while i < bytes.count {
                if bytes[i] == 0x20 { spaces += 1; i += 1; continue }
                if isBreak(bytes[i]) { spaces = 0; i += bytes[i] == 0x0D && i + 1 < bytes.count && bytes[i + 1] == 0x0A ? 2 : 1; continue }
                contentIndent = max(spaces, parentIndent + 1)
                break
            }
        }

        var result = ""
        var pendingEmpty = 0
        var sawContent = false
        var previousMoreIndented = false
        while pos < bytes.count {
            var spaces = 0
            while spaces < contentIndent, pos + spaces < bytes.count, bytes[pos + spaces] == 0x20 { spaces += 1 }
            let at = pos + spaces
            if at >= bytes.count || isBreak(bytes[at]) {
                // An empty line (or one of spaces only, fewer than the content's indentation).
                pendingEmpty += 1
                pos = at
                if pos < bytes.count { newline() }
                continue
            }
            if spaces < contentIndent {
                // A line with blanks after fewer spaces is empty too; else the scalar has ended.
                var j = at
                while j < bytes.count, bytes[j] == 0x20 || bytes[j] == 0x09 { j += 1 }
                if j >= bytes.count || isBreak(bytes[j]) {
                    pendingEmpty += 1
                    pos = j
                    if pos < bytes.count { newline() }
                    continue
                }
                break
            }
            pos = at
            let start = pos
            while pos < bytes.count, !isBreak(bytes[pos]) { pos += 1 }
            let content = text(start..<pos)
            let moreIndented = bytes[start] == 0x20 || bytes[start] == 0x09
            if !sawContent {
                result += String(repeating: "\n", count: pendingEmpty)
            } else if !literal, !previousMoreIndented, !moreIndented {
                result += pendingEmpty == 0 ? " " : String(repeating: "\n", count: pendingEmpty)
            } else {
                result += String(repeating: "\n", count: pendingEmpty + 1)
            }
            result += content
            sawContent = true
            previousMoreIndented = moreIndented
            pendingEmpty = 0
            if pos < bytes.count { newline() }
        }
        switch chomping {
        case .strip: break
        case .clip: if sawContent { result += "\n" }
        case .keep: result += String(repeating: "\n", count: (sawContent ? 1 : 0) + pendingEmpty)
        }
        // Leave the position at the start of the line that ended the scalar.
        return .scalar(Node.Scalar(string: result, style: literal ? .literal : .folded, mark: scalarMark))
    }
}
