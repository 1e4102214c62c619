#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VigilOTLP
import VigilSupport
import VigilTracing

/// Writes each batch as one line of OTLP/JSON to a file: traces for people without a collector.
///
/// The file is capped: when a batch would take it past `maxBytes`, it is renamed to `path.1`
/// (`path.1` to `path.2`, and so on up to `keep`; the oldest is overwritten) and a new file is
/// started, so the traces never take more than `(keep + 1) × maxBytes` on disk. Every line is a
/// whole batch; a batch larger than `maxBytes` on its own is refused and reported.
public final class JSONLinesSpanExporter: SpanExporter {
    /// The file written to; rotated files are `path.1` … `path.<keep>`.
    public let path: String
    /// The most bytes one file holds.
    public let maxBytes: Int
    /// How many rotated files are kept besides `path` (0: the full file is deleted instead).
    public let keep: Int
    let resource: TelemetryResource
    let scope: InstrumentationScope

    /// - Parameters:
    ///   - maxBytes: the cap of one file (16 MiB by default).
    ///   - keep: the rotated files kept (1 by default: `path.1`). Negative counts as 0.
    public init(path: String, resource: TelemetryResource, scope: InstrumentationScope = InstrumentationScope(),
                maxBytes: Int = 16 << 20, keep: Int = 1) {
        self.path = path
        self.resource = resource
        self.scope = scope
        self.maxBytes = maxBytes
        self.keep = max(0, keep)
    }

    /// Appends the batch as one line. Runs one batch at a time (the `SpanExporter` contract), so
    /// a rotation never splits or interleaves lines.
    public func export(_ batch: [SpanData]) async -> SpanExportResult {
        var line = OTLPJSON.encode(batch, resource: resource, scope: scope)
        line.append(UInt8(ascii: "\n"))
        guard line.count <= maxBytes else {
            return .failure(reason: "\(path): a batch of \(line.count) bytes is larger than maxBytes (\(maxBytes)); raise maxBytes or export smaller batches")
        }
        if let failure = append(line) { return .failure(reason: failure) }
        return .success
    }

    public func shutdown() async {}

    /// Appends `line`, rotating first if it would take the file past `maxBytes`; the reason on failure.
    private func append(_ line: [UInt8]) -> String? {
        var status = stat()
        if lstat(path, &status) == 0, status.st_size > 0, Int(status.st_size) + line.count > maxBytes, let failure = rotate() {
            return failure
        }
        // Never through a symbolic link (someone else's link would make root append to any file),
        // never blocking on a FIFO, readable by the owner only (spans carry attributes).
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0o600)
        guard fd >= 0 else {
            let error = errno
            if error == ELOOP { return "cannot open \(path): it is a symbolic link, which vigil does not follow for the span file; name the file itself" }
            return "cannot open \(FileError(path: path, errno: error)) (is its directory there and writable?)"
        }
        defer { close(fd) }
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            return "cannot append to \(path): not a regular file; name a file (it is created if absent)"
        }
        let start = fstat(fd, &status) == 0 ? status.st_size : 0
        var written = 0
        while written < line.count {
            let n = line.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                let failure = FileError(path: path, errno: n < 0 ? errno : EIO)
                _ = ftruncate(fd, start)  // no half line for the next batch to run into
                return "cannot append to \(failure)"
            }
            written += n
        }
        return nil
    }

    /// `path.<keep-1>` → `path.<keep>`, …, `path` → `path.1`; with `keep` 0, `path` is deleted.
    /// The reason on failure.
    private func rotate() -> String? {
        guard keep > 0 else {
            guard unlink(path) == 0 || errno == ENOENT else { return "cannot delete the full \(FileError(path: path, errno: errno))" }
            return nil
        }
        for generation in stride(from: keep - 1, through: 0, by: -1) {
            let from = generation == 0 ? path : "\(path).\(generation)"
            let to = "\(path).\(generation + 1)"
            guard rename(from, to) == 0 || errno == ENOENT else {
                return "cannot rotate traces: rename \(from) → \(to): \(FileError(path: from, errno: errno).reason)"
            }
        }
        return nil
    }
}
