#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The users whose processes are a plugin's own: a process counts for the plugin, and may be
/// signalled by its limit policy, only while both its real and its effective user id are among
/// them. Any local user can give a process the plugin's name and command line; no unprivileged
/// user can give it another user's ids.
///
/// Both ids are checked because either alone can be chosen: a set-user-id program run by an
/// attacker has root as its effective id, and a root daemon that dropped privileges keeps root
/// only as its real id if it does so carelessly.
public struct ProcessOwners: Sendable, Hashable {
    public var uids: Set<UInt32>

    public init(uids: Set<UInt32>) {
        self.uids = uids
    }

    /// Whether a process with these ids is owned.
    public func admits(real: UInt32, effective: UInt32) -> Bool {
        uids.contains(real) && uids.contains(effective)
    }

    /// The owners named by user names or numeric ids (`root`, `"1000"`), names looked up in the
    /// system's user database now.
    public static func resolving(_ users: [String]) throws(OwnerError) -> ProcessOwners {
        guard !users.isEmpty else { throw OwnerError(user: "", problem: "names no user") }
        var uids = Set<UInt32>()
        for user in users {
            uids.insert(try uid(of: user))
        }
        return ProcessOwners(uids: uids)
    }

    static func uid(of user: String) throws(OwnerError) -> UInt32 {
        if let number = UInt32(user) {
            // (uid_t)-1 means "no change" to the kernel, never a user.
            guard number != UInt32.max else { throw OwnerError(user: user, problem: "is not a user id") }
            return number
        }
        guard !user.isEmpty, !user.utf8.contains(0) else { throw OwnerError(user: user, problem: "is not a user name") }
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        let code = getpwnam_r(user, &entry, &buffer, buffer.count, &result)
        guard code == 0, result != nil else {
            throw OwnerError(user: user, problem: "is not a user on this machine (give its numeric id, such as \"1000\", where the name is only known elsewhere)")
        }
        return entry.pw_uid
    }
}

/// A user name or id that names no owner.
public struct OwnerError: Error, CustomStringConvertible, Equatable {
    public var user: String
    public var problem: String
    public var description: String {
        // Control characters are shown escaped, never written to a log as they are.
        let shown = user.prefix(64).unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? $0.escaped(asASCII: true) : String($0) }.joined()
        return "user \"\(shown)\"\(user.count > 64 ? "…" : "") \(problem)"
    }
}
