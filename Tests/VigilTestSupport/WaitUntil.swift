#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A condition a test waited for did not come true in time.
public struct ConditionTimedOut: Error, CustomStringConvertible {
    /// What the test waited for, in its own words.
    public let what: String
    public let timeout: Duration
    public let file: StaticString
    public let line: UInt

    public var description: String { "\(file):\(line): waited \(timeout) for \(what), in vain" }
}

/// The pause between two looks at a condition: short against any timeout, long enough that
/// polling does not take the core from what it waits for.
let pollInterval: Duration = .milliseconds(5)

/// Waits until `condition` holds, looking at it every few milliseconds; throws
/// `ConditionTimedOut` naming `what` once `timeout` has passed. Tests wait on this, never on a
/// sleep that hopes the other side is done by then.
public func waitUntil(
    timeout: Duration = .seconds(10), _ what: String, file: StaticString = #filePath, line: UInt = #line,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while !(try await condition()) {
        guard ContinuousClock.now < deadline else { throw ConditionTimedOut(what: what, timeout: timeout, file: file, line: line) }
        try await Task.sleep(for: pollInterval)
    }
}

/// `waitUntil` for synchronous tests and helpers: blocks the calling thread between looks, so
/// async code must not call it.
@available(*, noasync, message: "use waitUntil, which suspends instead of blocking the thread")
public func blockUntil(
    timeout: Duration = .seconds(10), _ what: String, file: StaticString = #filePath, line: UInt = #line,
    _ condition: () throws -> Bool
) throws {
    let deadline = ContinuousClock.now + timeout
    while !(try condition()) {
        guard ContinuousClock.now < deadline else { throw ConditionTimedOut(what: what, timeout: timeout, file: file, line: line) }
        let pause = pollInterval.components
        usleep(useconds_t(pause.seconds * 1_000_000 + pause.attoseconds / 1_000_000_000_000))
    }
}
