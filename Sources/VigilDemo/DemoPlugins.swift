import Vigil

// The demo's plugins, written the way a host would write them: phases, chained. Each is
// observed as a whole (`observed(by:)`), which observes every phase of its chain on its own.

/// Reads a page: decode, recognise, store.
struct OCRPlugin: Plugin {
    static let name = "ocr"
    var name: String { Self.name }
    var phases: PhaseChain<PhaseChain<Decode, Recognize>, StorePage> { Decode().then(Recognize()).then(StorePage()) }
}

struct Decode: Phase {
    var name: String { "decode" }
    func execute(_ input: [UInt8]) async throws -> [UInt32] {
        input.map { UInt32($0) &* 2_654_435_761 }
    }
}

struct Recognize: Phase {
    var name: String { "recognize" }
    func execute(_ input: [UInt32]) async throws -> [UInt32] {
        try await Task.sleep(for: .milliseconds(Int.random(in: 5...40)))
        return input.sorted()
    }
}

struct StorePage: Phase {
    var name: String { "store" }
    func execute(_ input: [UInt32]) async throws -> Int {
        try await Task.sleep(for: .milliseconds(Int.random(in: 1...5)))
        return input.reduce(0) { $0 &+ Int($1) }
    }
}

/// Translates a sentence through a backend that keeps going down, behind a breaker.
struct TranslatePlugin: Plugin {
    let backend: GuardedPhase<CallBackend>

    static let name = "translate"
    var name: String { Self.name }
    var phases: PhaseChain<PhaseChain<Tokenize, GuardedPhase<CallBackend>>, Join> { Tokenize().then(backend).then(Join()) }
}

struct Tokenize: Phase {
    var name: String { "tokenize" }
    func execute(_ input: String) async throws -> [Substring] { input.split(separator: " ") }
}

/// Calls a backend that is down for `outage` out of every `cycle`, and fails one call in fifty
/// besides.
struct CallBackend: Phase {
    struct Unavailable: ClassifiedError { var errorType: String { "backend_unavailable" } }
    let started: ContinuousClock.Instant
    let timings: DemoTimings

    var name: String { "call_backend" }

    func execute(_ input: [Substring]) async throws -> [String] {
        try await Task.sleep(for: .milliseconds(Int.random(in: 2...15)))
        if Self.isDown(after: started.duration(to: .now), timings: timings) || Int.random(in: 0..<50) == 0 { throw Unavailable() }
        return input.map { String($0.reversed()) }
    }

    /// Whether the backend is down `elapsed` into the demo: from a quarter into each cycle, for `outage`.
    static func isDown(after elapsed: Duration, timings: DemoTimings) -> Bool {
        let intoCycle = elapsed - timings.cycle * Int(elapsed / timings.cycle)
        return intoCycle >= timings.cycle / 4 && intoCycle < timings.cycle / 4 + timings.outage
    }
}

struct Join: Phase {
    var name: String { "join" }
    func execute(_ input: [String]) async throws -> String { input.joined(separator: " ") }
}
