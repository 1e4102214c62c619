#if canImport(Glibc)
import Glibc
#endif

/// The demo's hungry child: a process of its own whose resident memory swings between
/// `highMiB` and `lowMiB`, across its `limitMiB` limit, so that `vigil_plugin_limit_exceeded`
/// flips while the demo runs. It is this executable again, run as the hidden `vigil hog`.
public struct HungryChild: Sendable {
    /// The plugin label of the child's figures.
    static let pluginName = "hungry-child"
    /// The size the child holds in its hungry half of each period.
    public static let highMiB: UInt64 = 96
    /// The size it holds in the other half.
    public static let lowMiB: UInt64 = 16
    /// The memory limit the demo sets it, between the two.
    static let limitMiB: UInt64 = 64
    /// The most `vigil hog` holds, so that a typo cannot ask for the whole machine.
    public static let maximumMiB: UInt64 = 4096

    /// The child's process id.
    public let pid: Int32

    /// Starts the child: `executable` (by default this one, read from /proc/self/exe) with
    /// `hog --high-mib 96 --low-mib 16 --period-seconds <period>`.
    public static func spawn(period: Duration, executable: String? = nil) throws(DemoError) -> HungryChild {
        let exe = executable ?? currentExecutable() ?? CommandLine.arguments[0]
        let args = [exe, "hog", "--high-mib", String(highMiB), "--low-mib", String(lowMiB),
                    "--period-seconds", String(max(1, period.components.seconds))]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: Int32 = 0
        let rc = posix_spawn(&pid, exe, nil, nil, &argv, environ)
        guard rc == 0 else {
            throw DemoError(description: "cannot start the demo's hungry child \(exe): \(String(cString: strerror(rc))) (run vigil demo from a built executable)")
        }
        return HungryChild(pid: pid)
    }

    /// Kills the child and reaps it.
    public func stop() {
        kill(pid, SIGKILL)
        waitpid(pid, nil, 0)
    }

    /// Runs in the child: holds `highMiB`, then `lowMiB`, each for `period`, again and again,
    /// and exits once the process that started it is gone. Sizes are at most `maximumMiB`.
    public static func run(highMiB: UInt64, lowMiB: UInt64, period: Duration) -> Never {
        let parent = getppid()
        var big = true
        var held: UnsafeMutableRawPointer?
        while true {
            free(held)
            let bytes = Int(min(big ? highMiB : lowMiB, maximumMiB) << 20)
            held = malloc(bytes)
            guard let block = held else {
                let message = "vigil hog: cannot allocate \(bytes >> 20) MiB\n"
                _ = message.withCString { write(2, $0, strlen($0)) }
                exit(1)
            }
            for offset in stride(from: 0, to: bytes, by: 4096) { block.storeBytes(of: 1, toByteOffset: offset, as: UInt8.self) }  // every page resident
            // Sleep in slices of at most a second, so that an orphaned child does not linger.
            let wakeUp = ContinuousClock.now + period
            while ContinuousClock.now < wakeUp {
                if getppid() != parent { exit(0) }
                pause(for: min(.seconds(1), ContinuousClock.now.duration(to: wakeUp)))
            }
            big.toggle()
        }
    }

    private static func pause(for duration: Duration) {
        let (seconds, attoseconds) = max(duration, .zero).components
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
        nanosleep(&request, nil)
    }

    private static func currentExecutable() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
