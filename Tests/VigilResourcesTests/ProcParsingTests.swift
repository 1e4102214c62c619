import Foundation
import VigilMetrics
import XCTest
@testable import VigilResources

/// A /proc made of strings, where any file can vanish or be off limits.
struct FakeProc: ProcSource {
    var files: [String: String] = [:]
    var links: [String: String] = [:]
    var failures: [String: ProcError] = [:]
    /// Directories that exist even when empty, such as the fd folder of a process with none open.
    var directories: Set<String> = []

    func read(_ path: String) throws(ProcError) -> [UInt8] {
        if let failure = failures[path] { throw failure }
        guard let text = files[path] else { throw .vanished(path: path) }
        return Array(text.utf8)
    }

    func list(_ path: String) throws(ProcError) -> [String] {
        if let failure = failures[path] { throw failure }
        let prefix = path.isEmpty ? "" : path + "/"
        let names = Set((Array(files.keys) + Array(links.keys)).filter { $0.hasPrefix(prefix) }.compactMap {
            $0.dropFirst(prefix.count).split(separator: "/").first.map(String.init)
        })
        guard !names.isEmpty || directories.contains(path) else { throw .vanished(path: path) }
        return names.sorted()
    }

    func readLink(_ path: String) throws(ProcError) -> String {
        if let failure = failures[path] { throw failure }
        guard let target = links[path] else { throw .vanished(path: path) }
        return target
    }

    /// A stat line in proc(5) layout: 52 fields, the ones Vigil reads set.
    static func stat(pid: Int32, comm: String, ppid: Int32 = 1, flags: UInt64 = 0, utime: UInt64 = 0, stime: UInt64 = 0,
                     threads: Int = 1, start: UInt64 = 1000, vsize: UInt64 = 0, rssPages: UInt64 = 0) -> String {
        var fields = Array(repeating: "0", count: 52)
        fields[0] = String(pid); fields[1] = "(\(comm))"; fields[2] = "S"; fields[3] = String(ppid)
        fields[8] = String(flags); fields[13] = String(utime); fields[14] = String(stime); fields[19] = String(threads)
        fields[21] = String(start); fields[22] = String(vsize); fields[23] = String(rssPages)
        fields[6] = "-1"  // tty_pgrp is -1 for processes without a terminal
        return fields.joined(separator: " ") + "\n"
    }

    mutating func addProcess(pid: Int32, comm: String, ppid: Int32 = 1, flags: UInt64 = 0, utime: UInt64 = 0,
                             threads: Int = 1, rssPages: UInt64 = 0, fds: Int = 0, cmdline: String = "", cgroup: String = "0::/\n",
                             uid: UInt32 = 0) {
        files["\(pid)/stat"] = Self.stat(pid: pid, comm: comm, ppid: ppid, flags: flags, utime: utime, threads: threads, rssPages: rssPages)
        files["\(pid)/limits"] = "Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 4096                 files     \n"
        files["\(pid)/cmdline"] = cmdline.split(separator: " ").joined(separator: "\u{0}") + "\u{0}"
        files["\(pid)/cgroup"] = cgroup
        files["\(pid)/io"] = "rchar: 0\nwchar: 0\nread_bytes: 0\nwrite_bytes: 0\n"
        files["\(pid)/status"] = "Name:\t\(comm)\nUid:\t\(uid)\t\(uid)\t\(uid)\t\(uid)\nvoluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n"
        directories.insert("\(pid)/fd")
        for fd in 0..<fds { links["\(pid)/fd/\(fd)"] = "/dev/null" }
    }
}

let fixedConstants = SystemConstants(pageSize: 4096, clockTicksPerSecond: 100, bootTime: 1_700_000_000)

final class ProcParsingTests: XCTestCase {
    func testCommMayHoldSpacesAndParentheses() throws {
        let line = FakeProc.stat(pid: 4242, comm: "a) b (c", ppid: 7, utime: 150, stime: 50, threads: 3, rssPages: 10)
        let stat = try ProcStat.parse(Array(line.utf8), path: "4242/stat")
        XCTAssertEqual(stat.comm, "a) b (c")
        XCTAssertEqual(stat.ppid, 7)
        XCTAssertEqual(stat.utime, 150)
        XCTAssertEqual(stat.stime, 50)
        XCTAssertEqual(stat.numThreads, 3)
        XCTAssertEqual(stat.residentPages, 10)
    }

    func testMalformedStatThrowsNamingTheFile() {
        for text in ["", "garbage", "12 (x R 1", "12 (x) R 1 2 3", "zz (x) " + String(repeating: "0 ", count: 50)] {
            XCTAssertThrowsError(try ProcStat.parse(Array(text.utf8), path: "12/stat")) { error in
                guard case ProcError.malformed(let path, _) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(path, "12/stat")
            }
        }
    }

    func testKernelThreadsAreRecognisedAndNotAskedForFDs() throws {
        var proc = FakeProc()
        proc.addProcess(pid: 2, comm: "kthreadd", flags: 0x0020_8040)
        proc.failures["2/fd"] = .permissionDenied(path: "2/fd")
        let registry = Registry()
        let s = try ResourceSampler(
            plugins: [PluginResources(name: "k", matchers: [try ProcessMatcher(.comm(["kthreadd"]))])], registry: registry,
            source: proc, constants: fixedConstants)
        let usage = try XCTUnwrap(s.sampleNow()["k"])
        XCTAssertEqual(usage.processes, 1)
        XCTAssertTrue(registry.renderString().contains("vigil_sample_errors_total{plugin=\"k\",reason=\"permission_denied\"} 0\n"))
    }

    func testAProcessThatExitsBetweenReadsIsCountedNotFatal() throws {
        var proc = FakeProc()
        proc.addProcess(pid: 10, comm: "worker", rssPages: 5, fds: 3)
        proc.addProcess(pid: 11, comm: "worker", rssPages: 7, fds: 2)
        // 11's stat was read, then it exited: its fd folder and limits are gone.
        proc.links = proc.links.filter { !$0.key.hasPrefix("11/") }
        proc.directories.remove("11/fd")
        proc.files["11/limits"] = nil
        proc.failures["11/fd"] = .vanished(path: "11/fd")
        let registry = Registry()
        let s = try ResourceSampler(
            plugins: [PluginResources(name: "w", matchers: [try ProcessMatcher(.comm(["worker"]))])], registry: registry,
            source: proc, constants: fixedConstants)
        let usage = try XCTUnwrap(s.sampleNow()["w"])
        XCTAssertEqual(usage.processes, 2)
        XCTAssertEqual(usage.residentBytes, 12 * 4096)
        XCTAssertEqual(usage.openFDs, 3)
        XCTAssertTrue(registry.renderString().contains("vigil_sample_errors_total{plugin=\"w\",reason=\"vanished\"} 2\n"))
    }

    func testPermissionDeniedOnAnotherUsersFDsIsCounted() throws {
        var proc = FakeProc()
        proc.addProcess(pid: 20, comm: "other", fds: 4)
        proc.failures["20/fd"] = .permissionDenied(path: "20/fd")
        let registry = Registry()
        let s = try ResourceSampler(
            plugins: [PluginResources(name: "o", matchers: [try ProcessMatcher(.pid(20))])], registry: registry,
            source: proc, constants: fixedConstants)
        s.sampleNow()
        s.sampleNow()
        XCTAssertTrue(registry.renderString().contains("vigil_sample_errors_total{plugin=\"o\",reason=\"permission_denied\"} 2\n"))
    }

    func testCPUUsesClockTicksFromTheSystemConstants() throws {
        var proc = FakeProc()
        proc.addProcess(pid: 30, comm: "c", utime: 250)
        let s = try ResourceSampler(
            plugins: [PluginResources(name: "c", matchers: [try ProcessMatcher(.pid(30))])], registry: Registry(),
            source: proc, constants: SystemConstants(pageSize: 16384, clockTicksPerSecond: 250, bootTime: 0))
        XCTAssertEqual(s.sampleNow()["c"]?.userSeconds, 1.0)
    }

    func testCPUCounterNeverGoesBackWhenAPIDIsReused() throws {
        var proc = FakeProc()
        proc.addProcess(pid: 40, comm: "c", utime: 500)
        let box = ProcBox(proc)
        let s = try ResourceSampler(
            plugins: [PluginResources(name: "c", matchers: [try ProcessMatcher(.comm(["c"]))])], registry: Registry(),
            source: box, constants: fixedConstants)
        XCTAssertEqual(s.sampleNow()["c"]?.userSeconds, 5)
        // Process 40 exits and a new process gets pid 40 (a later start time), with less CPU.
        box.proc.files["40/stat"] = FakeProc.stat(pid: 40, comm: "c", utime: 100, start: 9999)
        XCTAssertEqual(s.sampleNow()["c"]?.userSeconds, 6)
        box.proc.files = [:]
        XCTAssertEqual(s.sampleNow()["c"]?.userSeconds, 6)
        XCTAssertEqual(s.usage["c"]?.processes, 0)
    }

    func testDescendantsAreFollowedThroughEveryGeneration() throws {
        var proc = FakeProc()
        proc.addProcess(pid: 100, comm: "root")
        proc.addProcess(pid: 101, comm: "child", ppid: 100)
        proc.addProcess(pid: 102, comm: "grandchild", ppid: 101)
        proc.addProcess(pid: 200, comm: "stranger", ppid: 1)
        let s = try ResourceSampler(
            plugins: [PluginResources(name: "tree", matchers: [try ProcessMatcher(.pid(100), includeDescendants: true)])],
            registry: Registry(), source: proc, constants: fixedConstants)
        XCTAssertEqual(s.sampleNow()["tree"]?.processes, 3)
    }

    func testCgroupAndCommandLineMatchers() throws {
        var proc = FakeProc()
        proc.addProcess(pid: 1, comm: "a", cmdline: "/usr/bin/python3 -m plugin --name=ocr", cgroup: "0::/plugins/ocr\n")
        proc.addProcess(pid: 2, comm: "b", cmdline: "/usr/bin/python3 -m plugin --name=asr", cgroup: "4:memory:/plugins/ocr/worker\n0::/\n")
        proc.addProcess(pid: 3, comm: "c", cmdline: "", cgroup: "0::/plugins/ocr2\n")
        let s = try ResourceSampler(
            plugins: [
                PluginResources(name: "cg", matchers: [try ProcessMatcher(.cgroup("/plugins/ocr"))]),
                PluginResources(name: "cmd", matchers: [try ProcessMatcher(.commandLine("--name=(ocr|asr)$"))]),
            ], registry: Registry(), source: proc, constants: fixedConstants)
        let usage = s.sampleNow()
        XCTAssertEqual(usage["cg"]?.processes, 2)  // /plugins/ocr and below, not /plugins/ocr2
        XCTAssertEqual(usage["cmd"]?.processes, 2)
    }

    func testPidFilesAreReadAtEverySample() throws {
        var proc = FakeProc()
        proc.addProcess(pid: 77, comm: "d")
        proc.addProcess(pid: 78, comm: "d")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-\(UUID()).pid")
        try "77\n".write(to: file, atomically: true, encoding: .utf8)
        let registry = Registry()
        let s = try ResourceSampler(
            plugins: [PluginResources(name: "d", matchers: [try ProcessMatcher(.pidFile(file.path))])], registry: registry,
            source: proc, constants: fixedConstants)
        XCTAssertEqual(s.sampleNow()["d"]?.processes, 1, registry.renderString())
        try FileManager.default.removeItem(at: file)
        XCTAssertEqual(s.sampleNow()["d"]?.processes, 0)
        XCTAssertTrue(registry.renderString().contains("vigil_sample_errors_total{plugin=\"d\",reason=\"vanished\"} 1\n"), registry.renderString())
    }

    func testLimitsFileUnlimitedAndMissing() throws {
        let unlimited = "Max open files            unlimited            unlimited            files     \n"
        XCTAssertNil(try ProcFiles.maxOpenFiles(Array(unlimited.utf8), path: "l"))
        XCTAssertThrowsError(try ProcFiles.maxOpenFiles(Array("Max processes 10 10\n".utf8), path: "l"))
    }

    func testDuplicatePluginNamesAreRefused() throws {
        XCTAssertThrowsError(try ResourceSampler(
            plugins: [PluginResources(name: "x", matchers: []), PluginResources(name: "x", matchers: [])], registry: Registry()))
    }

    func testByteSizes() throws {
        let cases: [(String, UInt64)] = [
            ("512MiB", 536_870_912), ("1.5GiB", 1_610_612_736), ("100MB", 100_000_000), ("4096", 4096), ("64k", 64_000),
            ("2 GiB", 2_147_483_648), ("1TiB", 1_099_511_627_776), ("10b", 10), ("7Mi", 7_340_032),
        ]
        for (text, bytes) in cases { XCTAssertEqual(try ByteSize.parse(text), bytes, text) }
        for bad in ["12QB", "", "MiB", "-5MiB", "1e9", "five", "1.2.3GB"] {
            XCTAssertThrowsError(try ByteSize.parse(bad)) { error in
                XCTAssertEqual("\(error)", "\"\(bad)\" is not a size (try 512MiB, 1.5GiB, 100MB or a number of bytes)")
            }
        }
    }

    func testAFixtureFolderServesAsProc() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-proc-\(UUID())")
        let pidDir = root.appendingPathComponent("321")
        try FileManager.default.createDirectory(at: pidDir.appendingPathComponent("fd"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try FakeProc.stat(pid: 321, comm: "fixture", threads: 4, rssPages: 3).write(to: pidDir.appendingPathComponent("stat"), atomically: true, encoding: .utf8)
        try "Max open files            512                  512                  files     \n".write(to: pidDir.appendingPathComponent("limits"), atomically: true, encoding: .utf8)
        for fd in 0..<5 {
            try FileManager.default.createSymbolicLink(atPath: pidDir.appendingPathComponent("fd/\(fd)").path, withDestinationPath: "/dev/null")
        }
        try FileManager.default.createSymbolicLink(atPath: pidDir.appendingPathComponent("exe").path, withDestinationPath: "/opt/fixture/bin/fixture")
        let s = try ResourceSampler(
            plugins: [PluginResources(name: "f", matchers: [try ProcessMatcher(.exe(["fixture"]))])], registry: Registry(),
            source: ProcFileSystem(root: root.path), constants: fixedConstants)
        let usage = try XCTUnwrap(s.sampleNow()["f"])
        XCTAssertEqual(usage.processes, 1)
        XCTAssertEqual(usage.threads, 4)
        XCTAssertEqual(usage.openFDs, 5)
        XCTAssertEqual(usage.maxFDs, 512)
        XCTAssertEqual(usage.residentBytes, 3 * 4096)
    }
}

/// A FakeProc that a test changes between samples.
final class ProcBox: ProcSource, @unchecked Sendable {
    var proc: FakeProc
    init(_ proc: FakeProc) { self.proc = proc }
    func read(_ path: String) throws(ProcError) -> [UInt8] { try proc.read(path) }
    func list(_ path: String) throws(ProcError) -> [String] { try proc.list(path) }
    func readLink(_ path: String) throws(ProcError) -> String { try proc.readLink(path) }
}
