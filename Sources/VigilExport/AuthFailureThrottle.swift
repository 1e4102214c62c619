import Synchronization
import VigilSupport

/// Backs off client addresses whose passwords keep failing: after `allowedFailures` failures in a
/// row, each further failure shuts the address out for a window that doubles from `initialWindow`
/// up to `maxWindow`; while shut out its requests are answered 429 without running bcrypt.
/// Credentials already in the `BasicAuthCache` are let in regardless, so the right password
/// stays fast from an address someone else on it is guessing from. A success forgets the
/// address, and so does `maxWindow` without a failure.
///
/// At most `capacity` addresses are remembered; past it, the one whose last failure is oldest
/// is forgotten first.
final class AuthFailureThrottle: Sendable {
    let allowedFailures: Int
    let initialWindow: Double
    let maxWindow: Double
    let capacity: Int
    private let now: @Sendable () -> Double
    private let entries = Mutex<[String: Entry]>([:])

    private struct Entry {
        var failures: Int
        var lastFailure: Double
        var blockedUntil: Double
    }

    init(allowedFailures: Int = 5, initialWindow: Duration = .seconds(1), maxWindow: Duration = .seconds(60), capacity: Int = 4096,
         now: @escaping @Sendable () -> Double = SystemClock.monotonicSeconds) {
        self.allowedFailures = max(1, allowedFailures)
        self.initialWindow = initialWindow.seconds
        self.maxWindow = max(initialWindow.seconds, maxWindow.seconds)
        self.capacity = max(1, capacity)
        self.now = now
    }

    /// How long `client` is still shut out, or nil when its password may be checked.
    func blocked(_ client: String) -> Double? {
        let time = now()
        return entries.withLock { entries -> Double? in
            guard let entry = entries[client] else { return nil }
            if time - entry.lastFailure >= maxWindow, time >= entry.blockedUntil {
                entries[client] = nil
                return nil
            }
            return entry.blockedUntil > time ? entry.blockedUntil - time : nil
        }
    }

    /// Counts a wrong password from `client`; past `allowedFailures`, shuts it out.
    func failed(_ client: String) {
        let time = now()
        entries.withLock { entries in
            if entries[client] == nil, entries.count >= capacity {
                entries = entries.filter { time - $0.value.lastFailure < maxWindow || time < $0.value.blockedUntil }
                if entries.count >= capacity, let oldest = entries.min(by: { $0.value.lastFailure < $1.value.lastFailure })?.key {
                    entries[oldest] = nil
                }
            }
            var entry = entries[client] ?? Entry(failures: 0, lastFailure: time, blockedUntil: 0)
            if time - entry.lastFailure >= maxWindow { entry.failures = 0 }
            entry.failures += 1
            entry.lastFailure = time
            let beyond = entry.failures - allowedFailures
            if beyond >= 0 {
                let window = min(maxWindow, initialWindow * Double(1 << min(beyond, 30)))
                entry.blockedUntil = max(entry.blockedUntil, time + window)
            }
            entries[client] = entry
        }
    }

    /// Forgets `client`'s failures: its password was right.
    func succeeded(_ client: String) {
        entries.withLock { entries in
            if entries[client] != nil { entries[client] = nil }
        }
    }
}
