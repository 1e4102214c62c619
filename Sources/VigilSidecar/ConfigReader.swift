#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VigilSupport

/// A problem in a configuration file, said the way an editor wants it:
/// `config/vigil.yml:14: plugins[0].limits.memory: "12QB" is not a size (try 512MiB)`.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int?
    public var path: String
    public var message: String

    public var description: String {
        let location = line.map { "\(file):\($0)" } ?? file
        return path.isEmpty ? "\(location): \(message)" : "\(location): \(path): \(message)"
    }
}

/// Reads a YAML node tree with its line numbers, refusing keys it was not asked about.
struct ConfigReader {
    let file: String

    /// The most a configuration file may hold: vigil's are a few kilobytes.
    static let maximumFileBytes = 4 << 20

    /// The whole text of the file at `path`, or the error that says why it cannot be read.
    static func text(of path: String) throws(ConfigError) -> String {
        do {
            return String(decoding: try readWholeFile(path, limit: maximumFileBytes, regularOnly: true), as: UTF8.self)
        } catch where error.errno == EFBIG {
            throw ConfigError(file: path, line: nil, path: "", message: "is larger than \(maximumFileBytes >> 20) MiB; a configuration file is a few kilobytes (is this the right file?)")
        } catch {
            throw ConfigError(file: path, line: nil, path: "", message: "cannot read the file: \(error.reason)")
        }
    }

    /// The YAML node tree of `text`, its lines kept for errors; nil for an empty document.
    func compose(_ text: String) throws(ConfigError) -> Node? {
        do {
            return try YAMLReader.compose(text)
        } catch {
            throw ConfigError(file: file, line: error.mark.line, path: "", message: "not valid YAML: \(error)")
        }
    }

    func fail(_ node: Node?, _ path: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: node?.mark.map { $0.line }, path: path, message: message)
    }

    /// The mapping at `node`, checking that it only has `allowed` keys.
    func mapping(_ node: Node?, _ path: String, allowed: [String]) throws(ConfigError) -> [String: Node] {
        guard let node else { return [:] }
        guard case .mapping(let mapping) = node else {
            throw fail(node, path, "expected a mapping of keys (\(allowed.joined(separator: ", "))), found \(describe(node))")
        }
        var result: [String: Node] = [:]
        for (key, value) in mapping {
            guard let name = key.string else { throw fail(key, path, "keys must be strings") }
            guard allowed.contains(name) else {
                // The hint costs the key's length times each allowed one's: none for a key no one typed.
                let hint = name.utf8.count > 64 ? "" : allowed.min { distance($0, name) < distance($1, name) }.map { " (did you mean \"\($0)\"?)" } ?? ""
                let shown = name.utf8.count > 64 ? String(name.prefix(64)) + "…" : name
                throw fail(key, join(path, shown), "unknown key\(hint); allowed here: \(allowed.joined(separator: ", "))")
            }
            result[name] = value
        }
        return result
    }

    func sequence(_ node: Node?, _ path: String) throws(ConfigError) -> [Node] {
        guard let node else { return [] }
        guard case .sequence(let sequence) = node else { throw fail(node, path, "expected a list, found \(describe(node))") }
        return Array(sequence)
    }

    func string(_ node: Node?, _ path: String) throws(ConfigError) -> String? {
        guard let node else { return nil }
        guard case .scalar(let scalar) = node else { throw fail(node, path, "expected a string, found \(describe(node))") }
        return scalar.string
    }

    func strings(_ node: Node?, _ path: String) throws(ConfigError) -> [String]? {
        guard let node else { return nil }
        if case .scalar = node { return [try string(node, path)!] }
        return try sequence(node, path).enumerated().map { (i, n) throws(ConfigError) in try string(n, "\(path)[\(i)]")! }
    }

    func int(_ node: Node?, _ path: String, example: String) throws(ConfigError) -> Int? {
        guard let text = try string(node, path) else { return nil }
        guard let value = Int(text), value >= 0 else { throw fail(node, path, "\"\(text)\" is not a whole number (try \(example))") }
        return value
    }

    func double(_ node: Node?, _ path: String, example: String) throws(ConfigError) -> Double? {
        guard let text = try string(node, path) else { return nil }
        guard let value = Double(text), value.isFinite, value >= 0 else { throw fail(node, path, "\"\(text)\" is not a number (try \(example))") }
        return value
    }

    func bool(_ node: Node?, _ path: String) throws(ConfigError) -> Bool? {
        guard let text = try string(node, path) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw fail(node, path, "\"\(text)\" is not true or false")
        }
    }

    /// `500ms`, `5s`, `2m`, `1h`, inside `range` (`DurationRange`): a value outside it is an
    /// error that says the bound, never a trap.
    func duration(_ node: Node?, _ path: String, _ range: DurationRange) throws(ConfigError) -> Duration? {
        guard let text = try string(node, path) else { return nil }
        switch range.parse(text) {
        case .success(let duration): return duration
        case .failure(let problem): throw fail(node, path, problem.message)
        }
    }

    func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : path + "." + key }

    private func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s): "\"\(s.string)\""
        case .mapping: "a mapping"
        case .sequence: "a list"
        }
    }

    /// Edit distance, for "did you mean".
    func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let old = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = old
            }
        }
        return row[b.count]
    }
}
