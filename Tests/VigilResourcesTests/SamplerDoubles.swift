import Foundation
import VigilMetrics
@testable import VigilResources

extension ResourceSampler {
    /// A sampler over a fixture.
    static func controlled(_ plugins: [PluginResources], registry: Registry = Registry(), source: any ProcSource) throws -> ResourceSampler {
        try ResourceSampler(plugins: plugins, registry: registry, interval: .seconds(1), source: source, constants: fixedConstants)
    }
}

extension Registry {
    /// The value of one sample in the text exposition, such as
    /// `vigil_plugin_process_starts_total{plugin="w"}`; nil when it is not exposed.
    func sample(_ series: String) -> Double? {
        renderString().split(separator: "\n").first { $0.hasPrefix(series + " ") }
            .flatMap { Double($0.dropFirst(series.count + 1)) }
    }
}

/// A folder laid out like /proc, for `ProcFileSystem(root:)`; removed when released.
final class ProcFixture {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-proc-\(UUID())")

    init() throws {
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    var source: ProcFileSystem { ProcFileSystem(root: root.path) }

    /// Writes (or rewrites) `<pid>/stat` and `<pid>/limits`, with an empty `fd/`.
    func process(pid: Int32, comm: String, start: UInt64) throws {
        let dir = root.appendingPathComponent("\(pid)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("fd"), withIntermediateDirectories: true)
        try FakeProc.stat(pid: pid, comm: comm, start: start).write(to: dir.appendingPathComponent("stat"), atomically: true, encoding: .utf8)
        try "Max open files            1024                 4096                 files     \n"
            .write(to: dir.appendingPathComponent("limits"), atomically: true, encoding: .utf8)
    }

    func removeProcess(pid: Int32) throws {
        try FileManager.default.removeItem(at: root.appendingPathComponent("\(pid)"))
    }
}
