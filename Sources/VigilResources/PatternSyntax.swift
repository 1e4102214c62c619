/// The parsed form of a `cmdline` pattern: RE2's syntax (what Go's `regexp` and so
/// process-exporter accept) minus what needs backtracking. Back-references and look-around are
/// refused at parse time with an error that says why, since an automaton cannot run them in time
/// linear in the input.
indirect enum PatternNode: Equatable {
    case empty
    /// One scalar out of a set (a literal is a one-scalar set).
    case set(ScalarSet)
    case assertion(PatternAssertion)
    case concat([PatternNode])
    case alternate([PatternNode])
    /// `min` to `max` (nil: unbounded) repetitions.
    case `repeat`(PatternNode, min: Int, max: Int?)
}

/// Zero-width tests between two scalars.
enum PatternAssertion: Equatable {
    case beginText, endText, beginLine, endLine, wordBoundary, notWordBoundary
}

/// A set of Unicode scalars as sorted, disjoint, non-adjacent closed ranges.
struct ScalarSet: Equatable {
    private(set) var ranges: [ClosedRange<UInt32>] = []

    static let all = ScalarSet(ranges: [0...0x10FFFF])
    static let digits = ScalarSet(ranges: [0x30...0x39])
    static let word = ScalarSet(ranges: [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A])
    static let space = ScalarSet(ranges: [0x09...0x0A, 0x0C...0x0D, 0x20...0x20])

    init(ranges: [ClosedRange<UInt32>] = []) {
        for r in ranges { insert(r) }
    }

    init(_ scalar: Unicode.Scalar) {
        ranges = [scalar.value...scalar.value]
    }

    /// The one scalar of a set that holds exactly one (a literal), else nil.
    var singleScalar: Unicode.Scalar? {
        guard ranges.count == 1, ranges[0].lowerBound == ranges[0].upperBound else { return nil }
        return Unicode.Scalar(ranges[0].lowerBound)
    }

    mutating func insert(_ r: ClosedRange<UInt32>) {
        var merged = r
        var kept: [ClosedRange<UInt32>] = []
        kept.reserveCapacity(ranges.count + 1)
        var placed = false
        for existing in ranges {
            if existing.upperBound &+ 1 < merged.lowerBound {
                kept.append(existing)
            } else if merged.upperBound &+ 1 < existing.lowerBound {
                if !placed { kept.append(merged); placed = true }
                kept.append(existing)
            } else {
                merged = min(existing.lowerBound, merged.lowerBound)...max(existing.upperBound, merged.upperBound)
            }
        }
        if !placed { kept.append(merged) }
        ranges = kept
    }

    mutating func formUnion(_ other: ScalarSet) {
        for r in other.ranges { insert(r) }
    }

    var inverted: ScalarSet {
        var out: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for r in ranges {
            if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
            next = r.upperBound &+ 1
        }
        if next <= 0x10FFFF, ranges.last?.upperBound != 0x10FFFF { out.append(next...0x10FFFF) }
        var set = ScalarSet()
        set.ranges = out
        return set
    }

    /// Adds the other case of every letter, for `(?i)`: ASCII always, other scalars through
    /// their one-scalar case mappings (large ranges other than ASCII are left as they are).
    var caseFolded: ScalarSet {
        var folded = self
        for r in ranges where r.count <= 4096 {
            for value in r {
                guard let scalar = Unicode.Scalar(value), scalar.properties.changesWhenCaseMapped else { continue }
                for mapped in [scalar.properties.lowercaseMapping, scalar.properties.uppercaseMapping] {
                    let scalars = mapped.unicodeScalars
                    if scalars.count == 1, let only = scalars.first { folded.insert(only.value...only.value) }
                }
            }
        }
        return folded
    }

    @inline(__always)
    func contains(_ value: UInt32) -> Bool {
        var low = 0
        var high = ranges.count
        while low < high {
            let mid = (low + high) / 2
            if ranges[mid].upperBound < value { low = mid + 1 } else { high = mid }
        }
        return low < ranges.count && ranges[low].lowerBound <= value
    }
}

/// Why a `cmdline` pattern was refused.
struct PatternError: Error {
    var message: String
}

/// A recursive-descent parser over the pattern's scalars.
struct PatternParser {
    /// RE2's limit on a counted repetition; larger ones are refused, not slowed down.
    static let maxRepeat = 1000

    private let scalars: [Unicode.Scalar]
    private var i = 0
    private var caseInsensitive = false
    private var dotMatchesNewline = false
    private var multiLine = false

    init(_ pattern: String) {
        scalars = Array(pattern.unicodeScalars)
    }

    static func parse(_ pattern: String) throws(PatternError) -> PatternNode {
        var parser = PatternParser(pattern)
        let node = try parser.alternation()
        guard parser.i == parser.scalars.count else { throw parser.error("unmatched )") }
        return node
    }

    private func error(_ message: String) -> PatternError {
        PatternError(message: "\(message) at offset \(i)")
    }

    private var peek: Unicode.Scalar? { i < scalars.count ? scalars[i] : nil }

    private mutating func eat(_ c: Unicode.Scalar) -> Bool {
        guard peek == c else { return false }
        i += 1
        return true
    }

    private mutating func alternation() throws(PatternError) -> PatternNode {
        var branches = [try concatenation()]
        while eat("|") { branches.append(try concatenation()) }
        return branches.count == 1 ? branches[0] : .alternate(branches)
    }

    private mutating func concatenation() throws(PatternError) -> PatternNode {
        var items: [PatternNode] = []
        while let c = peek, c != "|", c != ")" {
            guard let atom = try atom() else { continue }  // a flag group such as (?i) sets flags only
            items.append(try repetitions(of: atom))
        }
        return items.isEmpty ? .empty : items.count == 1 ? items[0] : .concat(items)
    }

    private mutating func repetitions(of atom: PatternNode) throws(PatternError) -> PatternNode {
        var node = atom
        var repeated = false
        while let c = peek {
            let bounds: (Int, Int?)
            switch c {
            case "*": i += 1; bounds = (0, nil)
            case "+": i += 1; bounds = (1, nil)
            case "?": i += 1; bounds = (0, 1)
            case "{":
                guard let counted = try countedRepetition() else { return node }
                bounds = counted
            default: return node
            }
            if repeated { throw error("a repetition of a repetition (write (?:x*)* to mean it)") }
            if case .assertion = node { throw error("a repetition of an anchor") }
            repeated = true
            _ = eat("?")  // lazy: the same set of matches, which is all a matcher needs
            node = .repeat(node, min: bounds.0, max: bounds.1)
        }
        return node
    }

    /// `{n}`, `{n,}`, `{n,m}`; a `{` that starts none of these is a literal, as in RE2.
    private mutating func countedRepetition() throws(PatternError) -> (Int, Int?)? {
        let start = i
        i += 1
        func number() -> Int? {
            var value: Int?
            while let c = peek, ("0"..."9").contains(c) {
                value = min((value ?? 0) * 10 + Int(c.value - 0x30), 100_000)
                i += 1
            }
            return value
        }
        guard let low = number() else { i = start; return nil }
        var high: Int? = low
        if eat(",") { high = number() }
        guard eat("}") else { i = start; return nil }
        if low > Self.maxRepeat || (high ?? 0) > Self.maxRepeat {
            throw error("a counted repetition above \(Self.maxRepeat)")
        }
        if let high, high < low { throw error("a counted repetition {\(low),\(high)} whose maximum is below its minimum") }
        return (low, high)
    }

    private mutating func atom() throws(PatternError) -> PatternNode? {
        guard let c = peek else { throw error("a missing expression") }
        i += 1
        switch c {
        case "(": return try group()
        case "[": return .set(try bracket())
        case ".":
            return .set(dotMatchesNewline ? .all : ScalarSet(ranges: [0...9, 11...0x10FFFF]))
        case "^": return .assertion(multiLine ? .beginLine : .beginText)
        case "$": return .assertion(multiLine ? .endLine : .endText)
        case "\\": return try escape()
        case "*", "+", "?":
            i -= 1
            throw error("a repetition of nothing (\(c))")
        default: return .set(literal(c))
        }
    }

    private func literal(_ c: Unicode.Scalar) -> ScalarSet {
        caseInsensitive ? ScalarSet(c).caseFolded : ScalarSet(c)
    }

    private mutating func group() throws(PatternError) -> PatternNode? {
        let saved = (caseInsensitive, dotMatchesNewline, multiLine)
        if eat("?") {
            if eat("=") || eat("!") { throw error("look-ahead, which needs backtracking; match the text itself instead") }
            if peek == "<", i + 1 < scalars.count, scalars[i + 1] == "=" || scalars[i + 1] == "!" {
                throw error("look-behind, which needs backtracking; match the text itself instead")
            }
            if eat("P") || peek == "<" {
                guard eat("<") else { throw error("a named group needs <name>") }
                while let c = peek, c != ">" { i += 1 }
                guard eat(">") else { throw error("a named group without >") }
            } else {
                // Flags: (?i) for the rest of the group, (?i:…) for the group only.
                var on = true
                while let c = peek, c != ":", c != ")" {
                    i += 1
                    switch c {
                    case "i": caseInsensitive = on
                    case "s": dotMatchesNewline = on
                    case "m": multiLine = on
                    case "U": break  // ungreedy: the same set of matches
                    case "-": on = false
                    default: throw error("the flag \(c) (try i, m, s or U)")
                    }
                }
                if eat(")") { return nil }  // flags that hold until the end of the enclosing group
                guard eat(":") else { throw error("an unclosed group") }
            }
        }
        let inner = try alternation()
        guard eat(")") else { throw error("missing ) to close the group") }
        (caseInsensitive, dotMatchesNewline, multiLine) = saved
        return inner
    }

    private mutating func escape() throws(PatternError) -> PatternNode {
        guard let c = peek else { throw error("a trailing backslash") }
        switch c {
        case "A": i += 1; return .assertion(.beginText)
        case "z": i += 1; return .assertion(.endText)
        case "b": i += 1; return .assertion(.wordBoundary)
        case "B": i += 1; return .assertion(.notWordBoundary)
        default:
            let set = try escapedSet()
            return .set(caseInsensitive ? set.caseFolded : set)
        }
    }

    /// An escape that stands for scalars, in or out of brackets.
    private mutating func escapedSet() throws(PatternError) -> ScalarSet {
        guard let c = peek else { throw error("a trailing backslash") }
        i += 1
        switch c {
        case "d": return .digits
        case "D": return ScalarSet.digits.inverted
        case "w": return .word
        case "W": return ScalarSet.word.inverted
        case "s": return .space
        case "S": return ScalarSet.space.inverted
        case "n": return ScalarSet("\n")
        case "t": return ScalarSet("\t")
        case "r": return ScalarSet("\r")
        case "f": return ScalarSet(Unicode.Scalar(0x0C))
        case "v": return ScalarSet(Unicode.Scalar(0x0B))
        case "a": return ScalarSet(Unicode.Scalar(0x07))
        case "x": return ScalarSet(try hexScalar())
        case "1"..."9":
            throw error("a back-reference (\\\(c)), which needs backtracking; cmdline patterns are matched in linear time and have none")
        case "0"..."7":
            var value: UInt32 = c.value - 0x30
            for _ in 0..<2 { if let d = peek, ("0"..."7").contains(d) { value = value * 8 + d.value - 0x30; i += 1 } }
            return ScalarSet(ranges: [value...value])
        case "p", "P": throw error("Unicode classes (\\\(c)) are not supported; use a bracket expression such as [a-z]")
        default:
            if c.isASCII, c.properties.isAlphabetic || ("0"..."9").contains(c) { throw error("an unknown escape \\\(c)") }
            return ScalarSet(c)  // escaped punctuation stands for itself
        }
    }

    private mutating func hexScalar() throws(PatternError) -> Unicode.Scalar {
        var digits = ""
        if eat("{") {
            while let c = peek, c != "}" { digits.unicodeScalars.append(c); i += 1 }
            guard eat("}") else { throw error("\\x{ without }") }
        } else {
            for _ in 0..<2 { if let c = peek { digits.unicodeScalars.append(c); i += 1 } }
        }
        guard let value = UInt32(digits, radix: 16), let scalar = Unicode.Scalar(value) else {
            throw error("\\x\(digits) is not a hexadecimal code point")
        }
        return scalar
    }

    /// A bracket expression, after its `[`.
    private mutating func bracket() throws(PatternError) -> ScalarSet {
        let negated = eat("^")
        var set = ScalarSet()
        var first = true
        while true {
            guard let c = peek else { throw error("missing ] to close the bracket expression") }
            if c == "]", !first { i += 1; break }
            first = false
            if c == "[", i + 1 < scalars.count, scalars[i + 1] == ":" {
                set.formUnion(try posixClass())
                continue
            }
            i += 1
            let low: ScalarSet
            if c == "\\" { low = try escapedSet() } else { low = ScalarSet(c) }
            if peek == "-", i + 1 < scalars.count, scalars[i + 1] != "]", low.ranges.count == 1,
               low.ranges[0].count == 1 {
                i += 1
                guard let h = peek else { throw error("missing ] to close the bracket expression") }
                i += 1
                let high = h == "\\" ? try escapedSet() : ScalarSet(h)
                guard high.ranges.count == 1, high.ranges[0].count == 1 else { throw error("a range that ends in a class") }
                let (a, b) = (low.ranges[0].lowerBound, high.ranges[0].lowerBound)
                guard a <= b else { throw error("the range \(c)-\(h) runs backwards") }
                set.insert(a...b)
            } else {
                set.formUnion(low)
            }
        }
        if caseInsensitive { set = set.caseFolded }
        return negated ? set.inverted : set
    }

    /// `[:alpha:]` and its kin (ASCII, as in RE2), `[:^alpha:]` negated.
    private mutating func posixClass() throws(PatternError) -> ScalarSet {
        i += 2
        let negated = eat("^")
        var name = ""
        while let c = peek, c != ":" { name.unicodeScalars.append(c); i += 1 }
        guard eat(":"), eat("]") else { throw error("an unclosed [:class:]") }
        let ranges: [ClosedRange<UInt32>]
        switch name {
        case "alnum": ranges = [0x30...0x39, 0x41...0x5A, 0x61...0x7A]
        case "alpha": ranges = [0x41...0x5A, 0x61...0x7A]
        case "ascii": ranges = [0...0x7F]
        case "blank": ranges = [0x09...0x09, 0x20...0x20]
        case "cntrl": ranges = [0...0x1F, 0x7F...0x7F]
        case "digit": ranges = [0x30...0x39]
        case "graph": ranges = [0x21...0x7E]
        case "lower": ranges = [0x61...0x7A]
        case "print": ranges = [0x20...0x7E]
        case "punct": ranges = [0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E]
        case "space": ranges = [0x09...0x0D, 0x20...0x20]
        case "upper": ranges = [0x41...0x5A]
        case "word": ranges = ScalarSet.word.ranges
        case "xdigit": ranges = [0x30...0x39, 0x41...0x46, 0x61...0x66]
        default: throw error("an unknown class [:\(name):]")
        }
        let set = ScalarSet(ranges: ranges)
        return negated ? set.inverted : set
    }
}
