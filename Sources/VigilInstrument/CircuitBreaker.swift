#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization
import VigilContract
import VigilMetrics
import VigilSupport
import VigilTracing

/// Stops calling a failing dependency for a while, then probes it (closed → open → half-open).
///
/// The closed path with the default policy costs two atomic loads and, after a failure, a
/// store: the lock is only taken for a state change or by the failure-ratio policy. Exports
/// `VigilMetric.breakerState` (1 for the current state, 0 for the other two: all three series
/// always present), `.breakerTrips` and `.breakerRejectedCalls`; each
/// state change is also an event on the current span and a call to `onStateChange`.
public final class CircuitBreaker: Sendable {
    public enum State: String, Sendable, CaseIterable {
        case closed
        case open
        case halfOpen = "half_open"
    }

    /// When the breaker opens.
    public enum TripPolicy: Sendable, Equatable {
        /// After `n` failures in a row (gobreaker's default is 5).
        case consecutiveFailures(Int)
        /// When at least `minimumRequests` calls in the last `window` include this share of failures.
        case failureRatio(Double, minimumRequests: Int, window: Duration)
    }

    public struct Configuration: Sendable {
        public var policy: TripPolicy = .consecutiveFailures(5)
        /// How long the breaker stays open before it lets probes through.
        public var openTimeout: Duration = .seconds(60)
        /// Calls let through while half-open; all must succeed to close again.
        public var halfOpenProbes = 1
        /// Which errors count as failures; by default all but cancellation.
        public var isFailure: @Sendable (any Error) -> Bool = { !($0 is CancellationError) }

        public init() {}
    }

    /// A state change, for logs.
    public struct Transition: Sendable {
        public var plugin: String
        public var breaker: String
        public var from: State
        public var to: State
        public var reason: String
    }

    public let plugin: String
    public let name: String
    public let configuration: Configuration
    let clock: @Sendable () -> Duration
    let onStateChange: (@Sendable (Transition) -> Void)?

    /// 0 closed, 1 open, 2 half-open: read without the lock on every call.
    private let stateCode = Atomic<Int>(0)
    private let consecutiveFailures = Atomic<Int>(0)
    private let locked: Locked<Mutable>
    private let stateGauges: [Gauge]
    private let trips: Counter
    private let rejected: Counter
    private let families: (state: GaugeFamily, trips: CounterFamily, rejected: CounterFamily)

    struct Mutable {
        /// Held open by `hold(open:reason:)`: no open timeout, no probe, until released.
        var held = false
        var openedAt: Duration = .zero
        var probesInFlight = 0
        var probeSuccesses = 0
        /// Failure-ratio policy: (time, failed) of recent calls.
        var window: [(Duration, Bool)] = []
    }

    /// - Parameters:
    ///   - clock: monotonic time; tests pass one they control.
    public init(plugin: String, name: String, configuration: Configuration = Configuration(), registry: Registry,
                clock: @escaping @Sendable () -> Duration = CircuitBreaker.monotonicNow,
                onStateChange: (@Sendable (Transition) -> Void)? = nil) throws(RegistrationError) {
        self.plugin = plugin
        self.name = name
        self.configuration = configuration
        self.clock = clock
        self.onStateChange = onStateChange
        self.locked = Locked(Mutable())
        let state = try registry.register(VigilMetric.breakerState)
        let trips = try registry.register(VigilMetric.breakerTrips)
        let rejected = try registry.register(VigilMetric.breakerRejectedCalls)
        families = (state, trips, rejected)
        stateGauges = State.allCases.map { state.labels(plugin, name, $0.rawValue) }
        self.trips = trips.labels(plugin, name)
        self.rejected = rejected.labels(plugin, name)
        stateGauges[0].set(1)
    }

    /// Takes the breaker's series out of the next scrape, for a plugin that is unloaded: an open
    /// breaker of a plugin that is gone must not keep `VigilBreakerOpen` firing. The breaker
    /// itself keeps working for whoever still holds it.
    public func unregister() {
        let match = ["plugin": plugin, "breaker": name]
        families.state.removeAll(matching: match)
        families.trips.removeAll(matching: match)
        families.rejected.removeAll(matching: match)
    }

    /// Holds the breaker open (`open: true`), rejecting every call without probing, or lets it
    /// go again (`open: false`, back to closed). For a host whose plugin is over a resource limit
    /// (`LimitEvent`s of a `ResourceSampler` whose limit policy says `breaker`): stop feeding it
    /// until it is back under. Holding counts as a trip; both moves are events and
    /// `onStateChange` calls, like any state change.
    public func hold(open: Bool, reason: String) {
        let transition: Transition? = locked.withLock { m in
            guard m.held != open else { return nil }
            m.held = open
            if open { return stateCode.load(ordering: .relaxed) == 1 ? nil : move(to: .open, &m, reason: reason) }
            return move(to: .closed, &m, reason: reason)
        }
        if let transition { announce(transition) }
    }

    /// Time on the monotonic clock.
    public static func monotonicNow() -> Duration {
        SystemClock.monotonic()
    }

    /// The current state.
    public var state: State {
        let code = stateCode.load(ordering: .acquiring)
        if code == 1, locked.withLock({ !$0.held && clock() - $0.openedAt >= configuration.openTimeout }) { return .halfOpen }
        return State.allCases[code]
    }

    /// Runs `body` unless the breaker is open, in which case it throws `CircuitOpenError` at once.
    public func run<T>(_ body: () async throws -> T) async throws -> T {
        let probe = try admit()
        do {
            let value = try await body()
            record(success: true, probe: probe)
            return value
        } catch {
            record(success: !configuration.isFailure(error), probe: probe)
            throw error
        }
    }

    /// `run` for synchronous code.
    public func run<T>(_ body: () throws -> T) throws -> T {
        let probe = try admit()
        do {
            let value = try body()
            record(success: true, probe: probe)
            return value
        } catch {
            record(success: !configuration.isFailure(error), probe: probe)
            throw error
        }
    }

    /// Whether the call may go ahead, and whether it is a half-open probe.
    private func admit() throws(CircuitOpenError) -> Bool {
        if stateCode.load(ordering: .acquiring) == 0 { return false }  // closed: the hot path
        let decision: (admitted: Bool, probe: Bool, transition: Transition?) = locked.withLock { m in
            var transition: Transition?
            if stateCode.load(ordering: .relaxed) == 1 {
                guard !m.held, clock() - m.openedAt >= configuration.openTimeout else { return (false, false, nil) }
                transition = move(to: .halfOpen, &m, reason: "open timeout of \(configuration.openTimeout) passed")
            }
            if stateCode.load(ordering: .relaxed) == 0 { return (true, false, transition) }
            guard m.probesInFlight + m.probeSuccesses < configuration.halfOpenProbes else { return (false, false, transition) }
            m.probesInFlight += 1
            return (true, true, transition)
        }
        if let transition = decision.transition { announce(transition) }
        guard decision.admitted else {
            rejected.inc()
            throw CircuitOpenError(plugin: plugin, breaker: name)
        }
        return decision.probe
    }

    private func record(success: Bool, probe: Bool) {
        if !probe, case .consecutiveFailures(let n) = configuration.policy {
            if success {
                if consecutiveFailures.load(ordering: .relaxed) != 0 { consecutiveFailures.store(0, ordering: .relaxed) }
                return
            }
            let failures = consecutiveFailures.wrappingAdd(1, ordering: .relaxed).newValue
            guard failures >= n else { return }
        }
        let transition: Transition? = locked.withLock { m in
            let now = clock()
            if probe {
                m.probesInFlight -= 1
                guard stateCode.load(ordering: .relaxed) == 2 else { return nil }
                if !success { return move(to: .open, &m, reason: "a half-open probe failed") }
                m.probeSuccesses += 1
                return m.probeSuccesses >= configuration.halfOpenProbes
                    ? move(to: .closed, &m, reason: "\(m.probeSuccesses) half-open probe(s) succeeded") : nil
            }
            guard stateCode.load(ordering: .relaxed) == 0 else { return nil }
            switch configuration.policy {
            case .consecutiveFailures(let n):
                return move(to: .open, &m, reason: "\(n) consecutive failures")
            case .failureRatio(let ratio, let minimum, let window):
                m.window.append((now, !success))
                m.window.removeAll { now - $0.0 > window }
                let failures = m.window.filter(\.1).count
                guard m.window.count >= minimum, Double(failures) / Double(m.window.count) >= ratio else { return nil }
                return move(to: .open, &m, reason: "\(failures) of \(m.window.count) calls failed in \(window)")
            }
        }
        if let transition { announce(transition) }
    }

    /// Changes state; the caller holds the lock.
    private func move(to next: State, _ m: inout Mutable, reason: String) -> Transition {
        let previous = State.allCases[stateCode.load(ordering: .relaxed)]
        stateCode.store(State.allCases.firstIndex(of: next)!, ordering: .releasing)
        m.probesInFlight = 0
        m.probeSuccesses = 0
        m.window.removeAll()
        consecutiveFailures.store(0, ordering: .relaxed)
        if next == .open {
            m.openedAt = clock()
            trips.inc()
        }
        for (i, gauge) in stateGauges.enumerated() { gauge.set(State.allCases[i] == next ? 1 : 0) }
        return Transition(plugin: plugin, breaker: name, from: previous, to: next, reason: reason)
    }

    private func announce(_ t: Transition) {
        Span.current?.addEvent("breaker \(t.from.rawValue) -> \(t.to.rawValue)", attributes: [
            Attribute("vigil.breaker", .string(t.breaker)), Attribute("vigil.breaker.reason", .string(t.reason)),
        ])
        onStateChange?(t)
    }
}

/// Thrown at once while a breaker is open.
public struct CircuitOpenError: Error, CustomStringConvertible, ClassifiedError {
    public var plugin: String
    public var breaker: String
    public var description: String { "circuit breaker \"\(breaker)\" of plugin \"\(plugin)\" is open; the call was not made" }
    public var errorType: String { "circuit_open" }
}

/// A phase guarded by a breaker. Observe the guarded phase (`guarded(by:).observed(plugin:by:)`)
/// and its rejections show as `circuit_open` errors of the phase.
public struct GuardedPhase<Wrapped: Phase>: Phase {
    public let wrapped: Wrapped
    public let breaker: CircuitBreaker

    public var name: String { wrapped.name }

    public func execute(_ input: Wrapped.Input) async throws -> Wrapped.Output {
        try await breaker.run { try await wrapped.execute(input) }
    }
}

extension Phase {
    /// This phase behind `breaker`.
    public func guarded(by breaker: CircuitBreaker) -> GuardedPhase<Self> {
        GuardedPhase(wrapped: self, breaker: breaker)
    }
}
