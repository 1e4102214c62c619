import VigilSupport

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A plugin's cgroup figures from the cgroup v2 (unified) hierarchy: what its processes are
/// charged and allowed, and what the kernel did when they went past it.
public struct CgroupUsage: Sendable, Equatable {
    /// `memory.current`.
    public var memoryBytes: UInt64?
    /// `memory.max`; nil when unlimited (`max`).
    public var memoryLimitBytes: UInt64?
    /// `cpu.max` as quota / period; nil when unlimited.
    public var cpuLimitCores: Double?
    /// `throttled_usec` of `cpu.stat`, in seconds.
    public var throttledSeconds: Double?
    /// `oom_kill` of `memory.events`.
    public var oomKills: UInt64?

    public init() {}
}

/// The cgroup v2 file system mounted at `root` (`/sys/fs/cgroup`, or a fixture folder). On a
/// machine that mounts cgroup v1 there, `isUnified` is false and no figures are read.
struct CgroupFileSystem: Sendable {
    let root: String
    /// Whether `root` is a cgroup v2 hierarchy: only v2 has `cgroup.controllers` at its root.
    let isUnified: Bool

    init(root: String) {
        self.root = root.hasSuffix("/") ? String(root.dropLast()) : root
        isUnified = access(self.root + "/cgroup.controllers", F_OK) == 0
    }

    /// The figures of the cgroup at `path` (as in `/proc/<pid>/cgroup`: `/system.slice/x.service`).
    /// A file the cgroup lacks (its controller is not enabled) leaves its figure nil; a file that
    /// does not parse is an error, with the figures that could be read.
    func usage(of path: String) -> (CgroupUsage, [ProcError]) {
        var usage = CgroupUsage()
        var errors: [ProcError] = []
        let directory = root + (path.hasPrefix("/") ? path : "/" + path)
        func read(_ name: String) -> String? {
            guard let bytes = try? readWholeFile(directory + "/" + name) else { return nil }
            return String(decoding: bytes, as: UTF8.self)
        }
        func malformed(_ name: String, _ detail: String) { errors.append(.malformed(path: directory + "/" + name, detail: detail)) }
        if let text = read("memory.current") {
            if let value = UInt64(text.trimmed(" \t\n")) { usage.memoryBytes = value } else { malformed("memory.current", "not a number") }
        }
        if let text = read("memory.max") {
            let value = text.trimmed(" \t\n")
            if value != "max" {
                if let bytes = UInt64(value) { usage.memoryLimitBytes = bytes } else { malformed("memory.max", "neither max nor a number") }
            }
        }
        if let text = read("cpu.max") {
            let parts = text.trimmed(" \t\n").split(separator: " ")
            if parts.count == 2, let period = Double(parts[1]), period > 0 {
                if parts[0] != "max" {
                    if let quota = Double(parts[0]) { usage.cpuLimitCores = quota / period } else { malformed("cpu.max", "the quota is neither max nor a number") }
                }
            } else {
                malformed("cpu.max", "expected \"<quota|max> <period>\"")
            }
        }
        if let text = read("cpu.stat") {
            if let value = Self.field("throttled_usec", in: text) { usage.throttledSeconds = Double(value) / 1_000_000 }
        }
        if let text = read("memory.events") {
            if let value = Self.field("oom_kill", in: text) { usage.oomKills = value }
        }
        return (usage, errors)
    }

    /// The value of a `key value` line of a flat-keyed cgroup file.
    static func field(_ key: String, in text: String) -> UInt64? {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == key { return UInt64(parts[1]) }
        }
        return nil
    }
}
