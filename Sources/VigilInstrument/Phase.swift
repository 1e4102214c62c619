import VigilTracing

/// One step of a plugin: typed input to typed output.
public protocol Phase<Input, Output>: Sendable {
    associatedtype Input: Sendable
    associatedtype Output: Sendable

    /// The `phase` label value and span name.
    var name: String { get }

    func execute(_ input: Input) async throws -> Output
}

/// A phase made of other phases, such as a chain. Decorators that act per phase (observing)
/// rebuild it with each of its own phases wrapped, instead of wrapping it as a whole.
public protocol CompositePhase: Phase {
    /// This phase rebuilt with each of its phases replaced by `wrapper`'s wrapping of it;
    /// phases that are themselves composite are rebuilt the same way, all the way down.
    func rebuilt(wrappingEachPhaseWith wrapper: some PhaseWrapper) -> AnyPhase<Input, Output>
}

/// Wraps one phase in a decorator of the same input and output.
public protocol PhaseWrapper: Sendable {
    func wrap<P: Phase>(_ phase: P) -> AnyPhase<P.Input, P.Output>
}

extension PhaseWrapper {
    /// `phase` wrapped, or, when it is composite, rebuilt with each of its phases wrapped.
    public func wrapEach<P: Phase>(_ phase: P) -> AnyPhase<P.Input, P.Output> {
        if let composite = phase as? any CompositePhase,
           let rebuilt = Self.rebuild(composite, with: self) as? AnyPhase<P.Input, P.Output> {
            return rebuilt
        }
        return wrap(phase)
    }

    private static func rebuild<C: CompositePhase>(_ composite: C, with wrapper: Self) -> Any {
        composite.rebuilt(wrappingEachPhaseWith: wrapper)
    }
}

extension Phase {
    /// This phase followed by `next`, as one phase.
    public func then<Next: Phase>(_ next: Next) -> PhaseChain<Self, Next> where Next.Input == Output {
        PhaseChain(first: self, second: next)
    }
}

/// Two phases run one after the other.
public struct PhaseChain<First: Phase, Second: Phase>: CompositePhase where First.Output == Second.Input {
    public let first: First
    public let second: Second

    public var name: String { first.name + "+" + second.name }

    public func execute(_ input: First.Input) async throws -> Second.Output {
        try await second.execute(try await first.execute(input))
    }

    public func rebuilt(wrappingEachPhaseWith wrapper: some PhaseWrapper) -> AnyPhase<First.Input, Second.Output> {
        let a = wrapper.wrapEach(first)
        let b = wrapper.wrapEach(second)
        return AnyPhase(name: name) { try await b.execute(try await a.execute($0)) }
    }
}

/// A phase of any concrete type with the given input and output.
public struct AnyPhase<Input: Sendable, Output: Sendable>: Phase {
    public let name: String
    private let body: @Sendable (Input) async throws -> Output

    public init<P: Phase>(_ phase: P) where P.Input == Input, P.Output == Output {
        self.name = phase.name
        self.body = { try await phase.execute($0) }
    }

    public init(name: String, _ body: @escaping @Sendable (Input) async throws -> Output) {
        self.name = name
        self.body = body
    }

    public func execute(_ input: Input) async throws -> Output { try await body(input) }
}

/// A plugin: a name and a chain of phases.
public protocol Plugin<Input, Output>: Sendable {
    associatedtype Input: Sendable
    associatedtype Output: Sendable
    associatedtype Phases: Phase where Phases.Input == Input, Phases.Output == Output

    /// The `plugin` label value and the name of the span around each run.
    var name: String { get }
    var phases: Phases { get }
}

extension Plugin {
    /// Runs the phases without observing them.
    public func run(_ input: Input) async throws -> Output { try await phases.execute(input) }

    /// This plugin with every run in a span named after it, and each phase observed inside it.
    public func observed(by observer: PluginObserver) -> ObservedPlugin<Input, Output> {
        ObservedPlugin(name: name, phases: AnyPhase(phases.observed(plugin: name, by: observer)), observer: observer)
    }
}

/// A plugin whose runs are each one span tree: the plugin's span, a child span per phase.
public struct ObservedPlugin<Input: Sendable, Output: Sendable>: Sendable {
    public let name: String
    let phases: AnyPhase<Input, Output>
    let observer: PluginObserver

    public func run(_ input: Input) async throws -> Output {
        guard let tracer = observer.tracer else { return try await phases.execute(input) }
        return try await tracer.withSpan(name, attributes: [Attribute("vigil.plugin", .string(name))]) { _ in
            try await phases.execute(input)
        }
    }
}
