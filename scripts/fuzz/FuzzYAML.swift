// libFuzzer's entry point for vigil's YAML reader (scripts/fuzz/run compiles it with the reader's
// sources, coverage-guided, under AddressSanitizer). Any input must come back as a node tree or a
// YAMLError, and every scalar as a duration or a DurationProblem: a trap, an overflow, a stack
// overflow or a bad read is a crash libFuzzer reports with the input that caused it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let node = try? YAMLReader.compose(text) else { return 0 }
    visit(node)
    return 0
}

/// Every scalar of the tree, read as each duration setting reads it.
func visit(_ node: Node) {
    switch node {
    case .scalar(let scalar):
        for range in [DurationRange.anyLength, .samplingInterval, .timeout] { _ = range.parse(scalar.string) }
    case .mapping(let mapping):
        for (key, value) in mapping { visit(key); visit(value) }
    case .sequence(let sequence):
        for item in sequence { visit(item) }
    }
}
