#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import VigilSupport

/// The `Retry-After` header (RFC 9110 §10.2.3): delay-seconds or an HTTP-date.
enum RetryAfter {
    /// The delay it asks for, measured from `now` (seconds since the epoch); nil if it does not parse.
    static func delay(_ value: String, now: Double) -> Duration? {
        let text = value.trimmed()
        if !text.isEmpty, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
            // delay-seconds = 1*DIGIT; more digits than an Int holds is a wait longer than any cap.
            return .seconds(Int(text) ?? Int.max)
        }
        guard let date = httpDate(String(text)) else { return nil }
        return .seconds(max(0, date - now))
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) and the two obsolete forms every recipient
    /// must accept: RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
    static func httpDate(_ text: String) -> Double? {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        var day: Int?, month: Int?, year: Int?, time: String?
        if words.count == 6, words[5] == "GMT", let d = Int(words[1]), let m = months.firstIndex(of: words[2]), let y = Int(words[3]) {
            (day, month, year, time) = (d, m, y, words[4])  // IMF-fixdate
        } else if words.count == 4, words[3] == "GMT" {
            let parts = words[1].split(separator: "-")
            if parts.count == 3, let d = Int(parts[0]), let m = months.firstIndex(of: String(parts[1])), let yy = Int(parts[2]) {
                (day, month, year, time) = (d, m, yy < 70 ? 2000 + yy : 1900 + yy, words[2])  // RFC 850
            }
        } else if words.count == 5, let m = months.firstIndex(of: words[1]), let d = Int(words[2]), let y = Int(words[4]) {
            (day, month, year, time) = (d, m, y, words[3])  // asctime
        }
        // Years past 9999 do not fit `tm` on every platform, and no server means them.
        guard let day, let month, let year, (1900...9999).contains(year), let time else { return nil }
        let clock = time.split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3, (1...31).contains(day), (0...23).contains(clock[0]), (0...59).contains(clock[1]), (0...60).contains(clock[2]) else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(clock[0])
        parts.tm_min = Int32(clock[1])
        parts.tm_sec = Int32(clock[2])
        return Double(timegm(&parts))
    }
}
