import Foundation

/// The hostile configuration files kept in scripts/fuzz/corpus (1e300s durations, 50,000-deep
/// nesting, huge sizes, NaN, line breaks in header values, tabs, BOMs, invalid UTF-8, unclosed
/// quotes…): each one a file vigil must refuse, with an error, without dying.
enum HostileConfigs {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/fuzz/corpus")

    /// Every file of the corpus, by path, sorted.
    static func paths() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted().map { directory.appendingPathComponent($0).path }
    }

    /// The path of the corpus file `name`.
    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

/// splitmix64: a seeded generator, so that a failing mutation is the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
