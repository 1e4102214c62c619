import Synchronization
import VigilSupport

/// Credentials bcrypt has already accepted, so that a scrape every few seconds does not pay a
/// bcrypt round (tens of milliseconds at cost 10) each time, as exporter-toolkit caches them.
/// Only successes are kept, for at most `lifetime` and at most `capacity` of them (the oldest
/// goes first); a lookup compares every entry in constant time, so its timing tells nothing of
/// what is held.
final class BasicAuthCache: Sendable {
    /// Entries live less than this. An entry holds the hash it was checked against, so a password
    /// changed or a user removed in a re-read web config is refused from the next request on.
    let lifetime: Duration
    let capacity: Int
    private let entries = Mutex<[Entry]>([])

    private struct Entry {
        var user: String
        var password: String
        var hash: String
        var verifiedAt: Duration
    }

    init(lifetime: Duration = .seconds(600), capacity: Int = 64) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// Whether bcrypt accepted exactly this user, password and hash within `lifetime`.
    func contains(user: String, password: String, hash: String) -> Bool {
        let now = SystemClock.monotonic()
        return entries.withLock { entries in
            entries.removeAll { now - $0.verifiedAt >= lifetime }
            var found = false
            for entry in entries {
                // No early exit and no short-circuit: every entry costs the same to compare.
                let same = entry.user.constantTimeEquals(user) && entry.password.constantTimeEquals(password)
                    && entry.hash.constantTimeEquals(hash)
                found = found || same
            }
            return found
        }
    }

    /// Remembers credentials bcrypt has just accepted.
    func insert(user: String, password: String, hash: String) {
        let now = SystemClock.monotonic()
        entries.withLock { entries in
            entries.removeAll { $0.user == user && $0.hash == hash }
            if entries.count >= capacity { entries.removeFirst(entries.count - capacity + 1) }
            entries.append(Entry(user: user, password: password, hash: hash, verifiedAt: now))
        }
    }
}
