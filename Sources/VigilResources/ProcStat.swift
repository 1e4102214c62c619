import VigilSupport

/// The fields of `/proc/<pid>/stat` (or `task/<tid>/stat`) that Vigil uses (proc(5)).
public struct ProcStat: Sendable, Equatable {
    public var pid: Int32
    /// The command name between the parentheses; it may itself hold spaces and `)`.
    public var comm: String
    public var state: Character
    public var ppid: Int32
    /// Kernel flags (field 9); `PF_KTHREAD` marks kernel threads.
    public var flags: UInt64
    /// Page faults that needed a read from disk (field 12).
    public var majorFaults: UInt64
    /// CPU time in clock ticks, in user and in kernel mode (fields 14 and 15).
    public var utime: UInt64
    public var stime: UInt64
    public var numThreads: Int
    /// Start time in clock ticks since boot (field 22).
    public var startTime: UInt64
    /// Virtual memory size in bytes (field 23).
    public var virtualBytes: UInt64
    /// Resident set size in pages (field 24).
    public var residentPages: UInt64

    static let kernelThreadFlag: UInt64 = 0x0020_0000

    /// Kernel threads have no user memory and no command line.
    public var isKernelThread: Bool { flags & Self.kernelThreadFlag != 0 }

    /// Parses the file's content. The command name runs from the first `(` to the *last* `)`,
    /// since a process may name itself `a) b (c`.
    public static func parse(_ bytes: [UInt8], path: String) throws(ProcError) -> ProcStat {
        guard let open = bytes.firstIndex(of: UInt8(ascii: "(")),
              let close = bytes.lastIndex(of: UInt8(ascii: ")")), open < close
        else { throw .malformed(path: path, detail: "no command name in parentheses") }
        let pidText = String(String(decoding: bytes[..<open], as: UTF8.self).trimmed(" "))
        let comm = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
        // Fields from 3 (state) on, separated by single spaces; scanned in place, since a sweep
        // parses one of these per process.
        guard let pid = Int32(pidText) else { throw .malformed(path: path, detail: "the pid is not a number") }
        var values = (ppid: UInt64(0), flags: UInt64(0), majflt: UInt64(0), utime: UInt64(0), stime: UInt64(0), threads: UInt64(0),
                      start: UInt64(0), vsize: UInt64(0), rss: UInt64(0))
        var state = UInt8(ascii: "?")
        var field = 2
        var i = close + 1
        while i < bytes.count, field < 24 {
            while i < bytes.count, bytes[i] == UInt8(ascii: " ") { i += 1 }
            guard i < bytes.count else { break }
            field += 1
            if field == 3 {
                state = bytes[i]
                while i < bytes.count, bytes[i] != UInt8(ascii: " ") { i += 1 }
                continue
            }
            var value: UInt64 = 0
            var negative = false
            while i < bytes.count, bytes[i] != UInt8(ascii: " "), bytes[i] != UInt8(ascii: "\n") {
                let byte = bytes[i]
                if byte == UInt8(ascii: "-") {
                    negative = true  // a negative field (tty_pgrp) that Vigil does not read as a number
                } else if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                    value = value &* 10 &+ UInt64(byte - UInt8(ascii: "0"))
                } else {
                    throw .malformed(path: path, detail: "field \(field) is not a number")
                }
                i += 1
            }
            if negative { value = 0 }
            switch field {
            case 4: values.ppid = value
            case 9: values.flags = value
            case 12: values.majflt = value
            case 14: values.utime = value
            case 15: values.stime = value
            case 20: values.threads = value
            case 22: values.start = value
            case 23: values.vsize = value
            case 24: values.rss = value
            default: break
            }
        }
        guard field >= 24 else { throw .malformed(path: path, detail: "expected at least 24 fields, found \(field)") }
        return ProcStat(
            pid: pid, comm: comm, state: Character(Unicode.Scalar(state)),
            ppid: Int32(truncatingIfNeeded: values.ppid), flags: values.flags, majorFaults: values.majflt,
            utime: values.utime, stime: values.stime, numThreads: Int(values.threads),
            startTime: values.start, virtualBytes: values.vsize, residentPages: values.rss)
    }
}

/// Reads the small /proc files that describe one process.
enum ProcFiles {
    /// The soft "Max open files" limit from `limits`; nil for "unlimited". Parsed as bytes:
    /// splitting the 1.3 KB file into Strings cost more than the three system calls reading it.
    static func maxOpenFiles(_ bytes: [UInt8], path: String) throws(ProcError) -> UInt64? {
        let key = Array("Max open files".utf8)
        var lineStart = 0
        while lineStart < bytes.count {
            let lineEnd = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            if lineEnd - lineStart > key.count, bytes[lineStart..<(lineStart + key.count)].elementsEqual(key) {
                var i = lineStart + key.count
                while i < lineEnd, bytes[i] == UInt8(ascii: " ") { i += 1 }
                if bytes[i..<lineEnd].starts(with: "unlimited".utf8) { return nil }
                var value: UInt64 = 0
                var digits = 0
                while i < lineEnd, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
                    value = value &* 10 &+ UInt64(bytes[i] - UInt8(ascii: "0"))
                    digits += 1
                    i += 1
                }
                guard digits > 0 else { break }
                return value
            }
            lineStart = lineEnd + 1
        }
        throw .malformed(path: path, detail: "no \"Max open files\" line")
    }

    /// The cgroup paths of every hierarchy (`0::/a/b` for v2, `4:memory:/a` for v1).
    static func cgroupPaths(_ bytes: [UInt8]) -> [String] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            return parts.count == 3 ? String(parts[2]) : nil
        }
    }

    /// The values of `key:` lines, as in `status`, `io` and `smaps_rollup`, in the order of
    /// `keys`; a value in kB comes back in bytes, an absent key as nil. Scanned as bytes: one of
    /// these files is read per process per sweep.
    static func keyedValues(_ bytes: [UInt8], keys: [String]) -> [UInt64?] {
        let wanted = keys.map { Array($0.utf8) }
        var values = [UInt64?](repeating: nil, count: keys.count)
        var lineStart = 0
        while lineStart < bytes.count {
            let lineEnd = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            if let colon = bytes[lineStart..<lineEnd].firstIndex(of: UInt8(ascii: ":")),
               let k = wanted.firstIndex(where: { bytes[lineStart..<colon].elementsEqual($0) }) {
                var i = colon + 1
                while i < lineEnd, bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\t") { i += 1 }
                var value: UInt64 = 0
                var digits = 0
                while i < lineEnd, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") {
                    value = value &* 10 &+ UInt64(bytes[i] - UInt8(ascii: "0"))
                    digits += 1
                    i += 1
                }
                if digits > 0 {
                    let kilobytes = bytes[i..<lineEnd].elementsEqual(" kB".utf8)
                    values[k] = kilobytes ? value &* 1024 : value
                }
            }
            lineStart = lineEnd + 1
        }
        return values
    }

    /// The real and effective user ids of the `Uid:` line of `status` (real, effective, saved,
    /// file system); nil when the line is missing or malformed.
    static func userIDs(_ bytes: [UInt8]) -> (real: UInt32, effective: UInt32)? {
        let key = Array("Uid:".utf8)
        var lineStart = 0
        while lineStart < bytes.count {
            let lineEnd = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            defer { lineStart = lineEnd + 1 }
            guard bytes[lineStart..<lineEnd].starts(with: key) else { continue }
            var ids: [UInt32] = []
            var i = lineStart + key.count
            while i < lineEnd, ids.count < 2 {
                while i < lineEnd, bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\t") { i += 1 }
                var value: UInt64 = 0
                var digits = 0
                while i < lineEnd, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9"), value <= UInt64(UInt32.max) {
                    value = value * 10 + UInt64(bytes[i] - UInt8(ascii: "0"))
                    digits += 1
                    i += 1
                }
                guard digits > 0, value <= UInt64(UInt32.max) else { return nil }
                ids.append(UInt32(value))
            }
            return ids.count == 2 ? (ids[0], ids[1]) : nil
        }
        return nil
    }

    /// The NUL-separated arguments of `cmdline`, joined by spaces.
    static func commandLine(_ bytes: [UInt8]) -> String {
        var trimmed = bytes[...]
        while trimmed.last == 0 { trimmed.removeLast() }
        return String(decoding: trimmed.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
    }
}
