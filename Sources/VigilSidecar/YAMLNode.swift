// The YAML node tree vigil's configuration files are read into. Vigil reads two kinds of file,
// vigil.yml and the exporter-toolkit web config, and needs of YAML only what they use; the reader
// (YAMLReader.swift) is vigil's own so that the sidecar links neither Foundation nor its ICU data
// (what Yams brings), which was most of its resident memory.

/// A node of a YAML document: a scalar, a mapping or a sequence, each with where it starts.
/// Scalars keep their text as written (after quoting and escapes): the config code decides what
/// a value means (`5s`, `true`, `512MiB`), and `style` tells a plain `null` from a quoted one.
enum Node {
    case scalar(Scalar)
    case mapping(Mapping)
    case sequence(Sequence)

    /// Where a node starts; both 1-based, the column counted in Unicode scalars.
    struct Mark: CustomStringConvertible {
        var line: Int
        var column: Int
        var description: String { "line \(line) column \(column)" }
    }

    struct Scalar {
        enum Style { case plain, singleQuoted, doubleQuoted, literal, folded }
        var string: String
        var style: Style
        var mark: Mark
    }

    /// Key/value pairs in the order the file gives them; keys are unique (the reader refuses
    /// a key given twice).
    struct Mapping: RandomAccessCollection {
        var pairs: [(key: Node, value: Node)]
        var mark: Mark
        var startIndex: Int { pairs.startIndex }
        var endIndex: Int { pairs.endIndex }
        subscript(position: Int) -> (key: Node, value: Node) { pairs[position] }
        var keys: [Node] { pairs.map(\.key) }
    }

    struct Sequence: RandomAccessCollection {
        var nodes: [Node]
        var mark: Mark
        var startIndex: Int { nodes.startIndex }
        var endIndex: Int { nodes.endIndex }
        subscript(position: Int) -> Node { nodes[position] }
    }

    /// The text of a scalar; nil for a mapping or a sequence.
    var string: String? {
        if case .scalar(let scalar) = self { return scalar.string }
        return nil
    }

    var mark: Mark? {
        switch self {
        case .scalar(let scalar): scalar.mark
        case .mapping(let mapping): mapping.mark
        case .sequence(let sequence): sequence.mark
        }
    }
}

/// Why a text is not a YAML document vigil reads: a syntax error, or a YAML feature vigil's
/// configuration does not need (anchors, aliases, tags, several documents), at the place it
/// starts.
struct YAMLError: Error, CustomStringConvertible {
    enum Kind { case syntax, unsupported }
    var kind: Kind
    var mark: Node.Mark
    var message: String

    var description: String {
        switch kind {
        case .syntax: "\(message) at \(mark)"
        case .unsupported: "unsupported YAML feature at \(mark): \(message)"
        }
    }
}
