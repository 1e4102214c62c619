// Durations as vigil.yml and the VIGIL_* variables write them (`500ms`, `5s`, `2m`, `1h`), each
// setting with its floor and ceiling. One parser for the file and the environment, so that a
// value the file refuses is refused from a variable too, and none can trap: the number is checked
// against the ceiling while it is still a Double, before it becomes whole milliseconds.

/// The durations one setting accepts, and what to suggest when a value is outside them.
struct DurationRange: Sendable {
    var minimum: Duration
    var maximum: Duration
    /// A good value, for the message: `try 5s`.
    var example: String

    /// The ceiling of every duration vigil reads: a week.
    static let ceiling: Duration = .seconds(7 * 24 * 3600)

    /// Zero or more, up to `ceiling`: how long a limit must stay exceeded (`on_limit.for`).
    static let anyLength = DurationRange(minimum: .zero, maximum: ceiling, example: "30s")
    /// `sampling_interval`, `VIGIL_SAMPLING_INTERVAL`: from 100ms (a smaller one is a busy loop over
    /// /proc) to an hour.
    static let samplingInterval = DurationRange(minimum: .milliseconds(100), maximum: .seconds(3600), example: "5s")
    /// `pushgateway.interval`: from 100ms to a week.
    static let pushInterval = DurationRange(minimum: .milliseconds(100), maximum: ceiling, example: "30s")
    /// `otlp.metrics.interval`, `OTEL_METRIC_EXPORT_INTERVAL`: from 1s (the specification's default is 60s).
    static let exportInterval = DurationRange(minimum: .seconds(1), maximum: ceiling, example: "60s")
    /// Timeouts of a request or an export: more than zero (libcurl reads 0 as no timeout at all), at most an hour.
    static let timeout = DurationRange(minimum: .milliseconds(1), maximum: .seconds(3600), example: "10s")
    /// `shutdown_grace`: from zero to an hour.
    static let shutdownGrace = DurationRange(minimum: .zero, maximum: .seconds(3600), example: "10s")

    /// The duration `text` says, when it is one inside the range; else what is wrong with it, to
    /// follow `path: ` in an error.
    func parse(_ text: String) -> Result<Duration, DurationProblem> {
        guard let seconds = Self.seconds(text) else {
            return .failure(DurationProblem(message: "\"\(text)\" is not a duration (try 500ms, 5s, 2m or 1h)"))
        }
        guard seconds >= 0 else {
            return .failure(DurationProblem(message: "\"\(text)\" is negative (try \(example))"))
        }
        // Compared as Double first: `1e300s` is far past what Int64 milliseconds hold.
        guard seconds <= Double(maximum.components.seconds) else {
            return .failure(DurationProblem(message: "\"\(text)\" is too long (at most \(Self.describe(maximum)))"))
        }
        let duration = Duration.milliseconds(Int64((seconds * 1000).rounded()))
        guard duration >= minimum else {
            return .failure(DurationProblem(message: "must be at least \(Self.describe(minimum)) (try \(example))"))
        }
        return .success(duration)
    }

    /// The seconds of `500ms`, `5s`, `2m`, `1h` (infinite when the number overflows); nil when the text is not a number with one
    /// of those units.
    static func seconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let digits = text.dropLast(suffix.count)
            // Decimal digits only: Double would also take "nan", "inf" and hexadecimal.
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }),
                  let number = Double(digits), !number.isNaN else { return nil }
            // An overflow is infinite, which the range check then calls too long (or negative).
            return number * scale
        }
        return nil
    }

    /// `100ms`, `1s`, `1h`, `168h`: a bound, as a user would write it.
    static func describe(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        if milliseconds % 1000 != 0 { return "\(milliseconds)ms" }
        if seconds % 3600 == 0, seconds > 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0, seconds > 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}

/// Why a text is not a duration a setting accepts: the message, without the setting's name.
struct DurationProblem: Error, Equatable {
    var message: String
}
