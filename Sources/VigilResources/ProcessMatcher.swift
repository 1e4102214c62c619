import VigilSupport

/// Says which processes belong to a plugin.
public struct ProcessMatcher: Sendable, Equatable {
    public enum Rule: Sendable, Hashable {
        /// The process Vigil runs in.
        case currentProcess
        case pid(Int32)
        /// A file holding a pid, read again at every sample (daemons restart).
        case pidFile(String)
        /// Processes whose `comm` (the 15-character kernel name) is one of these.
        case comm([String])
        /// Processes whose executable's path, or its last component, is one of these.
        case exe([String])
        /// Processes whose command line (arguments joined by spaces) matches this expression,
        /// anywhere unless anchored. The syntax is RE2's (Go's `regexp`, as process-exporter
        /// takes) without back-references and look-around, matched in time linear in the
        /// command line's length (`LinearPattern`), so that no process name can stall a sweep.
        case commandLine(String)
        /// Processes in this cgroup or below it, in any hierarchy.
        case cgroup(String)
    }

    public var rule: Rule
    /// Also take every descendant of the matched processes.
    public var includeDescendants: Bool
    /// Who must own the processes this matcher selects; nil leaves it to the plugin's `owners`.
    public var owners: ProcessOwners?
    let pattern: LinearPattern?

    /// A matcher; throws when a command-line expression does not compile.
    public init(_ rule: Rule, includeDescendants: Bool = false, owners: ProcessOwners? = nil) throws(MatcherError) {
        self.rule = rule
        self.includeDescendants = includeDescendants
        self.owners = owners
        if case .commandLine(let expression) = rule {
            do {
                pattern = try LinearPattern(expression)
            } catch {
                throw MatcherError(description: "cmdline pattern \"\(expression)\" is not a regular expression: \(error.message)")
            }
        } else {
            pattern = nil
        }
    }

    /// Two matchers are equal when they select by the same rule (the compiled pattern follows it).
    public static func == (a: ProcessMatcher, b: ProcessMatcher) -> Bool {
        a.rule == b.rule && a.includeDescendants == b.includeDescendants && a.owners == b.owners
    }

    /// Whether the rule selects every process of the machine: an empty command-line pattern (a
    /// template that rendered empty), one that matches the empty string or every command line
    /// of a varied synthetic table, the root cgroup, or an empty `comm` or `exe` name. A plugin
    /// that may signal is refused such a matcher; elsewhere it is worth a warning.
    public var matchesEverything: Bool {
        switch rule {
        case .currentProcess, .pid, .pidFile:
            return false
        case .comm(let names):
            return names.contains("")
        case .exe(let names):
            return names.contains { $0.isEmpty || $0 == "/" }
        case .cgroup(let path):
            return path.isEmpty || path.allSatisfy { $0 == "/" }
        case .commandLine(let expression):
            guard let pattern, !expression.isEmpty, !pattern.matches("") else { return true }
            return Self.syntheticCommandLines.allSatisfy(pattern.matches)
        }
    }

    /// Command lines unlike each other in every way a pattern could tell apart: a pattern that
    /// matches all of them matches anything.
    static let syntheticCommandLines = [
        "/sbin/init", "x", "Q", "7", "-", "/", "é", "中", "[kworker/0:1]", "sshd: root@pts/0",
        "/usr/bin/python3 -m http.server 8000", "bash", "java -Xmx2g -jar app.jar", "Z Z",
    ]

    /// Whether the rule needs every process's details, rather than naming pids outright.
    var scansAllProcesses: Bool {
        switch rule {
        case .currentProcess, .pid, .pidFile: includeDescendants
        case .comm, .exe, .commandLine, .cgroup: true
        }
    }
}

/// A matcher that cannot work as written.
public struct MatcherError: Error, CustomStringConvertible, Equatable {
    public var description: String
}

