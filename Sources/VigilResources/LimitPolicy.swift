#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What the sampler does when one of a plugin's limits stays exceeded: opt-in per plugin
/// (`PluginResources.onLimit`); without it a limit is only watched.
///
/// An episode starts at the first sample that finds the plugin over a limit and ends at the
/// first that finds it back under. Once the limit has stayed exceeded for `sustainedFor`
/// (measured on the monotonic clock between samples, so the action comes at the first sample at
/// or past that time), the action runs once for that episode; it runs again only after the
/// plugin went back under and over again. Each limited resource has episodes of its own.
public struct LimitPolicy: Sendable, Equatable {
    /// The action itself.
    public enum Action: Sendable, Equatable {
        /// Nothing is done: the same as no policy, written out.
        case watch
        /// kill(2) with this signal to every process of the plugin (never to the sampler's own
        /// process), once per episode. A plugin that ignores the signal is not signalled again
        /// in the same episode: choose `SIGKILL` where that matters.
        case signal(Int32)
        /// The sampler's `onBreaker` hook is told to open the plugin's circuit breakers, and to
        /// close them once the plugin is back under all its limits: for hosts that run plugins
        /// in process, where killing is not an option.
        case breaker

        /// The `action` label of `vigil_plugin_limit_actions_total`; nil for `watch`.
        var label: String? {
            switch self {
            case .watch: nil
            case .signal: "signal"
            case .breaker: "breaker"
            }
        }
    }

    /// How long a limit must stay exceeded before the action runs; zero acts at the first
    /// sample over the limit.
    public var sustainedFor: Duration
    public var action: Action
    /// Only report the action (a `LimitEvent` and `action="dry_run"` in
    /// `vigil_plugin_limit_actions_total`); send no signal, call no hook.
    public var dryRun: Bool

    public init(for duration: Duration, action: Action, dryRun: Bool = false) {
        self.sustainedFor = duration
        self.action = action
        self.dryRun = dryRun
    }

    /// The `action` label this policy counts under; nil when it never acts.
    var countedAs: String? {
        guard let label = action.label else { return nil }
        return dryRun ? "dry_run" : label
    }

    /// The signals a configuration may name, without the `SIG` prefix.
    public static let signalNames: [(name: String, number: Int32)] = [
        ("TERM", SIGTERM), ("KILL", SIGKILL), ("INT", SIGINT), ("HUP", SIGHUP), ("QUIT", SIGQUIT),
        ("USR1", SIGUSR1), ("USR2", SIGUSR2),
    ]

    /// The highest signal number Linux accepts (`SIGRTMAX`).
    public static let highestSignal: Int32 = 64

    /// The signal a name (`TERM`, `SIGTERM`, any case) or a number (`15`) stands for; nil when
    /// it is neither one of `signalNames` nor a number from 1 to `highestSignal`.
    public static func signal(named text: String) -> Int32? {
        if let number = Int32(text) { return (1...highestSignal).contains(number) ? number : nil }
        var name = text.uppercased()
        if name.hasPrefix("SIG") { name.removeFirst(3) }
        return signalNames.first { $0.name == name }?.number
    }

    /// `SIGTERM` for 15, `signal 40` for a number without a name here.
    public static func describe(signal: Int32) -> String {
        signalNames.first { $0.number == signal }.map { "SIG" + $0.name } ?? "signal \(signal)"
    }
}

extension LimitPolicy {
    /// Why this policy cannot work for a plugin with these matchers, or nil.
    func problem(matchers: [ProcessMatcher], hasBreakerHook: Bool) -> String? {
        if sustainedFor < .zero { return "waits a negative time (\(sustainedFor)); use zero or more" }
        switch action {
        case .watch:
            return nil
        case .signal(let signal):
            guard (1...Self.highestSignal).contains(signal) else {
                return "names signal \(signal), which Linux does not have (1 to \(Self.highestSignal))"
            }
            if !dryRun, matchers.contains(where: { $0.rule == .currentProcess }) {
                return "would signal the process the sampler runs in (a matcher selects the current process); "
                    + "use .breaker, or match only the plugin's own processes"
            }
            return nil
        case .breaker:
            guard hasBreakerHook || dryRun else {
                return "opens circuit breakers, but the sampler has no onBreaker hook to open them with; "
                    + "pass onBreaker: to ResourceSampler.init"
            }
            return nil
        }
    }
}
