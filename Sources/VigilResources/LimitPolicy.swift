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
        /// This signal to every process of the plugin, once per episode, through a pidfd taken
        /// after the process was identified again (owner and start time), so that a pid reused
        /// meanwhile never receives it. Never to pid 1, kernel threads, the sampler's process or
        /// its parent. A plugin that ignores the signal is not signalled again in the same
        /// episode unless the policy has an `escalation`.
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
    /// The most processes one action may signal. A plugin that matches more is not signalled
    /// at all (the refusal is counted in `vigil_plugin_limit_actions_refused_total`): a
    /// matcher that caught far more than the plugin is more likely than a plugin that big.
    public var maxTargets: Int
    /// A second, stronger signal for the processes that are still there `after` the first one,
    /// with the limit still exceeded: `TERM`, then `KILL` 10 s later. Counted as `escalate`.
    public var escalation: Escalation?

    /// A second signal, for a plugin that ignored the first.
    public struct Escalation: Sendable, Equatable {
        public var signal: Int32
        public var after: Duration

        public init(signal: Int32, after: Duration) {
            self.signal = signal
            self.after = after
        }
    }

    /// The default `maxTargets`.
    public static let defaultMaxTargets = 16

    public init(
        for duration: Duration, action: Action, dryRun: Bool = false, maxTargets: Int = defaultMaxTargets,
        escalation: Escalation? = nil
    ) {
        self.sustainedFor = duration
        self.action = action
        self.dryRun = dryRun
        self.maxTargets = maxTargets
        self.escalation = escalation
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
    /// Why this policy cannot work for `plugin`, or nil.
    func problem(for plugin: PluginResources, hasBreakerHook: Bool) -> String? {
        let matchers = plugin.matchers
        if sustainedFor < .zero { return "waits a negative time (\(sustainedFor)); use zero or more" }
        if maxTargets < 1 { return "may signal at most \(maxTargets) processes; use 1 or more" }
        if let escalation {
            guard case .signal = action else { return "escalates, which only a signal action can; remove the escalation" }
            guard (1...Self.highestSignal).contains(escalation.signal) else {
                return "escalates to signal \(escalation.signal), which Linux does not have (1 to \(Self.highestSignal))"
            }
            if escalation.after < .zero { return "escalates after a negative time (\(escalation.after)); use zero or more" }
        }
        switch action {
        case .watch:
            return nil
        case .signal(let signal):
            guard (1...Self.highestSignal).contains(signal) else {
                return "names signal \(signal), which Linux does not have (1 to \(Self.highestSignal))"
            }
            guard !dryRun else { return nil }
            if matchers.contains(where: { $0.rule == .currentProcess }) {
                return "would signal the process the sampler runs in (a matcher selects the current process); "
                    + "use .breaker, or match only the plugin's own processes"
            }
            if let everything = matchers.first(where: \.matchesEverything) {
                return "would signal every process on the machine: the matcher \(everything.rule) selects them all; "
                    + "match only the plugin's own processes"
            }
            if matchers.contains(where: { plugin.owners(of: $0) == nil }) {
                return "signals processes without knowing whose they are; give the plugin owners "
                    + "(PluginResources.owners, user: in vigil.yml) so that another user's lookalike is never signalled"
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
