import Foundation
import VigilMetrics
import XCTest

@testable import VigilResources

/// How `ProcFileSystem` reads and counts: the shortcuts it takes on proc, and the listing and
/// reading loop that older kernels and fixture folders need, give the same answers.
final class ProcFileSystemTests: XCTestCase {
    func testProcIsRecognisedFromTheMountTable() {
        let mounts = Array("""
            sysfs /sys sysfs rw,nosuid 0 0
            proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
            proc /host/proc proc rw 0 0
            /dev/sda1 /srv/proc ext4 rw 0 0

            """.utf8)
        XCTAssertTrue(ProcFileSystem.isProcMount("/proc", in: mounts))
        XCTAssertTrue(ProcFileSystem.isProcMount("/host/proc", in: mounts))
        XCTAssertFalse(ProcFileSystem.isProcMount("/srv/proc", in: mounts), "a folder named proc on another file system")
        XCTAssertFalse(ProcFileSystem.isProcMount("/sys", in: mounts))
        XCTAssertFalse(ProcFileSystem.isProcMount("/pro", in: mounts))
        XCTAssertTrue(ProcFileSystem().directorySizeCountsEntries, "this machine's /proc is a proc mount")
        XCTAssertTrue(ProcFileSystem(root: "/proc/").directorySizeCountsEntries)
        XCTAssertFalse(ProcFileSystem(root: NSTemporaryDirectory()).directorySizeCountsEntries, "a fixture folder's sizes are not counts")
    }

    /// The fd count from the folder's size (Linux 6.2 and later) and from listing it (older
    /// kernels, or a size of 0) agree for a child with 40 extra files open.
    func testOpenFDsBySizeAndByListingAgree() throws {
        let busy = try Workload(["fds", "40"])
        let quiet = try Workload([])
        let bySize = ProcFileSystem()
        let byListing = ProcFileSystem(root: "/proc", directorySizeCountsEntries: false)
        let counted = try bySize.count("\(busy.pid)/fd")
        XCTAssertEqual(counted, try byListing.count("\(busy.pid)/fd"))
        XCTAssertEqual(counted, try byListing.list("\(busy.pid)/fd").count)
        XCTAssertEqual(counted, try bySize.count("\(quiet.pid)/fd") + 40)
        var info = stat()
        XCTAssertEqual(stat("/proc/\(busy.pid)/fd", &info), 0)
        if info.st_size > 0 {
            XCTAssertEqual(Int(info.st_size), counted, "the kernel reports the count as the size")
        }
        XCTAssertThrowsError(try bySize.count("2147483646/fd")) { error in
            XCTAssertEqual(error as? ProcError, .vanished(path: "/proc/2147483646/fd"))
        }
    }

    func testAFixtureFolderIsCountedByListing() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-procfs-\(UUID())")
        let fds = root.appendingPathComponent("7/fd")
        try FileManager.default.createDirectory(at: fds, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        for fd in 0..<3 {
            try FileManager.default.createSymbolicLink(atPath: fds.appendingPathComponent("\(fd)").path, withDestinationPath: "/dev/null")
        }
        XCTAssertEqual(try ProcFileSystem(root: root.path).count("7/fd"), 3)
    }

    /// One read is made when the file fits the first buffer; longer files, and files of exactly
    /// the buffer's size, are read to their end.
    func testFilesOfEverySizeAreReadWhole() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-procfs-\(UUID())")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let fs = ProcFileSystem(root: root.path)
        for size in [0, 1, 4095, 4096, 4097, 8192, 20_000] {
            let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            try Data(bytes).write(to: root.appendingPathComponent("f\(size)"))
            XCTAssertEqual(try fs.read("f\(size)"), bytes, "a file of \(size) bytes")
        }
        XCTAssertThrowsError(try fs.read("absent")) { error in
            XCTAssertEqual(error as? ProcError, .vanished(path: root.path + "/absent"))
        }
    }

    /// A proc file is generated whole and handed to one read: what it reads equals what a
    /// read-until-zero loop reads (the `limits` of this process, which does not change).
    func testProcFilesReadWholeInOneRead() throws {
        let limits = try ProcFileSystem().read("self/limits")
        XCTAssertEqual(limits, Array(try Data(contentsOf: URL(fileURLWithPath: "/proc/self/limits"))))
        XCTAssertGreaterThan(limits.count, 1000)
    }
}

/// The open-file limit from prlimit(2) and from the `limits` file agree, and a limit changed
/// while a process runs is seen at the next sweep (limits are never cached).
final class OpenFileLimitTests: XCTestCase {
    func testPrlimitAndTheLimitsFileAgreeAndAChangeIsSeenAtTheNextSweep() throws {
        let child = try Workload([])
        let kernel = ProcFileSystem()
        let file = ProcFileSystem(root: "/proc", directorySizeCountsEntries: true, askKernelForLimits: false)
        XCTAssertTrue(kernel.pidsAreOurs, "this machine's /proc shows Vigil's own pids")
        XCTAssertFalse(file.pidsAreOurs)
        XCTAssertEqual(try kernel.openFileLimit(pid: child.pid), try file.openFileLimit(pid: child.pid))
        XCTAssertNotNil(try kernel.openFileLimit(pid: child.pid))

        let s = try ResourceSampler(
            plugins: [PluginResources(name: "c", matchers: [try ProcessMatcher(.pid(child.pid))])], registry: Registry())
        XCTAssertEqual(s.sampleNow()["c"]?.maxFDs, try file.openFileLimit(pid: child.pid))
        let tool = Process()
        tool.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
        tool.arguments = ["--pid", "\(child.pid)", "--nofile=321:654"]
        try tool.run()
        tool.waitUntilExit()
        XCTAssertEqual(tool.terminationStatus, 0)
        XCTAssertEqual(try kernel.openFileLimit(pid: child.pid), 321)
        XCTAssertEqual(try file.openFileLimit(pid: child.pid), 321)
        XCTAssertEqual(s.sampleNow()["c"]?.maxFDs, 321, "a limit changed by prlimit is seen at the next sweep")
    }

    func testAnExitedProcessHasVanishedAndAFixtureIsReadFromItsFile() throws {
        XCTAssertThrowsError(try ProcFileSystem().openFileLimit(pid: 2_147_483_646)) { error in
            XCTAssertEqual((error as? ProcError)?.reason, "vanished")
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-limits-\(UUID())")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("9"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try "Max open files            77                   88                   files     \n"
            .write(to: root.appendingPathComponent("9/limits"), atomically: true, encoding: .utf8)
        let fixture = ProcFileSystem(root: root.path)
        XCTAssertFalse(fixture.pidsAreOurs, "a fixture's pids are not this machine's")
        XCTAssertEqual(try fixture.openFileLimit(pid: 9), 77)
    }
}
