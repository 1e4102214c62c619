#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A `cmdline` pattern compiled to a Thompson automaton and run by simulating every state at
/// once, so that matching takes time linear in the command line's length (times the pattern's
/// size), whatever the pattern: `^(a+)+$` against `aaaa…ab` costs what `^a+$` does. Any user can
/// name a process, so a backtracking matcher would let one stall the sweep; Go's RE2, which
/// process-exporter uses, gives the same guarantee.
///
/// The syntax is RE2's (PatternSyntax.swift) without back-references and look-around. A match
/// is a search: the pattern may match anywhere in the text unless anchored with `^` or `$`.
final class LinearPattern: Sendable {
    /// The pattern as written.
    let source: String
    private let program: [Instruction]
    private let sets: [ScalarSet]
    /// `^…` or `\A…` at the top: only threads started at the first scalar can match.
    private let anchoredAtStart: Bool
    /// Bytes every match contains (the longest run of plain characters the pattern requires):
    /// a command line without them is turned down by a byte search, without running the automaton.
    let requiredLiteral: [UInt8]

    /// Patterns that compile to more states than this are refused: a `{1000}` of a large group
    /// would otherwise make every match slow (still linear, but with a large factor).
    static let maxInstructions = 20_000

    enum Instruction {
        /// Consumes one scalar of `sets[index]`.
        case set(Int)
        case split(Int, Int)
        case jump(Int)
        case assert(PatternAssertion)
        case match
    }

    init(_ source: String) throws(PatternError) {
        self.source = source
        let tree = try PatternParser.parse(source)
        var compiler = Compiler()
        try compiler.emit(tree)
        compiler.program.append(.match)
        program = compiler.program
        sets = compiler.sets
        anchoredAtStart = Self.startsAnchored(tree)
        requiredLiteral = Self.requiredLiteral(tree)
    }

    /// The longest run of single-scalar sets in the top-level sequence of `node`.
    private static func requiredLiteral(_ node: PatternNode) -> [UInt8] {
        let items: [PatternNode]
        switch node {
        case .concat(let nodes): items = nodes
        case .set: items = [node]
        default: return []
        }
        var best: [UInt8] = [], run: [UInt8] = []
        for item in items {
            if case .set(let set) = item, let scalar = set.singleScalar {
                run.append(contentsOf: String(Character(scalar)).utf8)
                if run.count > best.count { best = run }
            } else {
                run = []
            }
        }
        return best
    }

    private static func startsAnchored(_ node: PatternNode) -> Bool {
        switch node {
        case .assertion(.beginText): true
        case .concat(let items): items.first.map(startsAnchored) ?? false
        default: false
        }
    }

    /// Whether the pattern matches anywhere in `text`.
    func matches(_ text: String) -> Bool {
        if !requiredLiteral.isEmpty, !Self.contains(text, requiredLiteral) { return false }
        let scalars = text.unicodeScalars.map(\.value)
        var current = StateSet(capacity: program.count)
        var next = StateSet(capacity: program.count)
        var stack: [Int] = []
        stack.reserveCapacity(program.count)
        var previous: UInt32?
        var i = 0
        while true {
            let scalar: UInt32? = i < scalars.count ? scalars[i] : nil
            if !anchoredAtStart || i == 0 {
                if follow(0, into: &current, previous: previous, current: scalar, stack: &stack) { return true }
            }
            guard let scalar, !current.isEmpty || !anchoredAtStart else { return false }
            next.removeAll()
            let following: UInt32? = i + 1 < scalars.count ? scalars[i + 1] : nil
            for pc in current.members {
                guard case .set(let index) = program[pc], sets[index].contains(scalar) else { continue }
                if follow(pc + 1, into: &next, previous: scalar, current: following, stack: &stack) { return true }
            }
            swap(&current, &next)
            previous = scalar
            i += 1
        }
    }

    private static func contains(_ text: String, _ literal: [UInt8]) -> Bool {
        var text = text
        return text.withUTF8 { haystack in
            literal.withUnsafeBufferPointer { needle in
                guard let base = haystack.baseAddress, let first = needle.first, let pattern = needle.baseAddress else { return false }
                let n = haystack.count, m = needle.count
                var i = 0
                // memchr(3) finds each candidate first byte; memcmp(3) checks the rest.
                while i + m <= n {
                    guard let hit = memchr(base + i, Int32(first), n - m - i + 1) else { return false }
                    let at = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(hit))
                    if memcmp(base + at, pattern, m) == 0 { return true }
                    i = at + 1
                }
                return false
            }
        }
    }

    /// Adds `start` and every state reachable from it without consuming a scalar; true when
    /// one of them is the match.
    private func follow(
        _ start: Int, into states: inout StateSet, previous: UInt32?, current: UInt32?, stack: inout [Int]
    ) -> Bool {
        stack.removeAll(keepingCapacity: true)
        stack.append(start)
        while let pc = stack.popLast() {
            guard states.insert(pc) else { continue }
            switch program[pc] {
            case .match: return true
            case .jump(let target): stack.append(target)
            case .split(let first, let second):
                stack.append(second)
                stack.append(first)
            case .assert(let assertion):
                if Self.holds(assertion, previous: previous, current: current) { stack.append(pc + 1) }
            case .set: break
            }
        }
        return false
    }

    private static func holds(_ assertion: PatternAssertion, previous: UInt32?, current: UInt32?) -> Bool {
        let newline = UInt32(0x0A)
        switch assertion {
        case .beginText: return previous == nil
        case .endText: return current == nil
        case .beginLine: return previous == nil || previous == newline
        case .endLine: return current == nil || current == newline
        case .wordBoundary, .notWordBoundary:
            let before = previous.map(ScalarSet.word.contains) ?? false
            let after = current.map(ScalarSet.word.contains) ?? false
            return (before != after) == (assertion == .wordBoundary)
        }
    }

    /// Turns the tree into instructions (Thompson's construction).
    private struct Compiler {
        var program: [Instruction] = []
        var sets: [ScalarSet] = []

        mutating func emit(_ node: PatternNode) throws(PatternError) {
            guard program.count < LinearPattern.maxInstructions else {
                throw PatternError(message: "the pattern is too large (more than \(LinearPattern.maxInstructions) states; use smaller counted repetitions)")
            }
            switch node {
            case .empty:
                break
            case .set(let set):
                sets.append(set)
                program.append(.set(sets.count - 1))
            case .assertion(let assertion):
                program.append(.assert(assertion))
            case .concat(let items):
                for item in items { try emit(item) }
            case .alternate(let branches):
                var jumps: [Int] = []
                for branch in branches.dropLast() {
                    let split = program.count
                    program.append(.split(split + 1, -1))
                    try emit(branch)
                    jumps.append(program.count)
                    program.append(.jump(-1))
                    program[split] = .split(split + 1, program.count)
                }
                if let last = branches.last { try emit(last) }
                for jump in jumps { program[jump] = .jump(program.count) }
            case .repeat(let inner, let min, let max):
                for _ in 0..<min { try emit(inner) }
                if let max {
                    var splits: [Int] = []
                    for _ in min..<max {
                        splits.append(program.count)
                        program.append(.split(program.count + 1, -1))
                        try emit(inner)
                    }
                    for split in splits { program[split] = .split(split + 1, program.count) }
                } else {
                    let loop = program.count
                    program.append(.split(loop + 1, -1))
                    try emit(inner)
                    program.append(.jump(loop))
                    program[loop] = .split(loop + 1, program.count)
                }
            }
        }
    }
}

/// A set of automaton states with O(1) insert, membership and clear (Briggs and Torczon's
/// sparse set), in insertion order.
private struct StateSet {
    private var dense: [Int]
    private var sparse: [Int]
    private(set) var count = 0

    init(capacity: Int) {
        dense = Array(repeating: 0, count: capacity)
        sparse = Array(repeating: 0, count: capacity)
    }

    var isEmpty: Bool { count == 0 }
    var members: ArraySlice<Int> { dense[..<count] }

    /// Adds `state`; false when it was already there.
    mutating func insert(_ state: Int) -> Bool {
        let slot = sparse[state]
        if slot < count, dense[slot] == state { return false }
        sparse[state] = count
        dense[count] = state
        count += 1
        return true
    }

    mutating func removeAll() { count = 0 }
}
