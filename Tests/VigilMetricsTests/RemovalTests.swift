import Foundation
import XCTest
@testable import VigilMetrics
import VigilSupport

final class RemovalTests: XCTestCase {
    func testARemovedSeriesLeavesTheNextScrapeAndAFreshOneStartsFromZero() throws {
        let registry = Registry()
        let family = try registry.counter("jobs_total", help: "Jobs.", labelNames: ["plugin", "queue"])
        let held = family.labels("ocr", "fast")
        held.inc(by: 5)
        family.labels("translate", "fast").inc()
        XCTAssertTrue(family.remove("ocr", "fast"))
        XCTAssertFalse(family.remove("ocr", "fast"), "removing twice finds nothing the second time")
        let text = registry.renderString()
        XCTAssertFalse(text.contains("plugin=\"ocr\""), text)
        XCTAssertTrue(text.contains("jobs_total{plugin=\"translate\",queue=\"fast\"} 1"), text)

        held.inc()  // a handle the caller kept still works, unexported
        XCTAssertEqual(held.value, 6)
        XCTAssertFalse(registry.renderString().contains("plugin=\"ocr\""))

        let fresh = family.labels("ocr", "fast")
        XCTAssertFalse(fresh === held)
        XCTAssertEqual(fresh.value, 0)
        fresh.inc()
        XCTAssertTrue(registry.renderString().contains("jobs_total{plugin=\"ocr\",queue=\"fast\"} 1"))
    }

    func testRemoveAllMatchingTakesEverySeriesWithThoseLabelValues() throws {
        let registry = Registry()
        let family = try registry.gauge("in_flight", help: "Work.", labelNames: ["plugin", "phase"])
        for plugin in ["ocr", "translate"] {
            for phase in ["a", "b", "c"] { family.labels(plugin, phase).set(1) }
        }
        XCTAssertEqual(family.removeAll(matching: ["plugin": "ocr"]), 3)
        XCTAssertEqual(family.removeAll(matching: ["plugin": "translate", "phase": "b"]), 1)
        XCTAssertEqual(family.removeAll(matching: ["no_such_label": "x"]), 0)
        XCTAssertEqual(family.allSeries.map(\.labelValues), [["translate", "a"], ["translate", "c"]])
        XCTAssertEqual(family.seriesCount, 2)
        XCTAssertEqual(family.removeAll(), 2)
        XCTAssertEqual(family.seriesCount, 0)
        XCTAssertFalse(registry.renderString().contains("in_flight"))
    }

    func testRemoveBySeriesNeverTakesTheFreshSeriesThatReplacedIt() throws {
        let family = try Registry().counter("c_total", help: "C.", labelNames: ["k"])
        let old = family.labels("v")
        XCTAssertTrue(family.remove(series: old))
        let fresh = family.labels("v")
        XCTAssertFalse(family.remove(series: old))
        XCTAssertTrue(family.allSeries.first === fresh)
    }

    func testTheRegistryRemovesAPluginFromEveryFamilyThatHasThePluginLabel() throws {
        let registry = Registry()
        let runs = try registry.counter("runs_total", help: "Runs.", labelNames: ["plugin"])
        let state = try registry.gauge("state", help: "State.", labelNames: ["plugin", "breaker"])
        let other = try registry.gauge("queue", help: "Queue.", labelNames: ["queue"])
        runs.labels("ocr").inc()
        runs.labels("translate").inc()
        state.labels("ocr", "backend").set(1)
        other.labels("ocr").set(3)  // a label value that is not a plugin label: untouched
        XCTAssertEqual(registry.removeSeries(matching: ["plugin": "ocr"]), 2)
        XCTAssertEqual(registry.removeSeries(matching: [:]), 0)
        let text = registry.renderString()
        XCTAssertFalse(text.contains("plugin=\"ocr\""), text)
        XCTAssertTrue(text.contains("runs_total{plugin=\"translate\"} 1"), text)
        XCTAssertTrue(text.contains("queue{queue=\"ocr\"} 3"), text)
    }

    func testRemovalMakesRoomUnderTheSeriesLimit() throws {
        let registry = Registry()
        let family = try registry.counter("limited_total", help: "L.", labelNames: ["k"], seriesLimit: 2)
        family.labels("a").inc()
        family.labels("b").inc()
        family.labels("c").inc()  // over the limit: the overflow series
        XCTAssertEqual(family.overflowCount, 1)
        family.remove("a")
        family.labels("d").inc()
        XCTAssertEqual(family.allSeries.map(\.labelValues).filter { $0 != ["__overflow__"] }, [["b"], ["d"]])
    }

    /// Lookups, increments, removals and re-creations race on one family; under the thread
    /// sanitizer (`make tsan`) this is the test that proves removal safe for lock-free readers.
    func testRemovalWhileOtherThreadsLookUpAndRecord() throws {
        // Every removal frees its garbage at once: the most chances for a lookup to meet a
        // series freed under it, if grace periods did not hold the frees back.
        MetricFamilyTuning.garbageBatch = 1
        defer { MetricFamilyTuning.garbageBatch = 256 }
        let family = try Registry().counter("race_total", help: "Race.", labelNames: ["k"])
        let keys = (0..<32).map { "k\($0)" }
        let rounds = 20_000
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            if worker == 0 {
                for i in 0..<rounds / 4 {
                    family.remove(keys[i % keys.count])
                    if i % 64 == 0 { family.removeAll(matching: ["k": keys[(i / 64) % keys.count]]) }
                }
            } else {
                for i in 0..<rounds {
                    let series = family.labels(keys[(i &* 7 &+ worker) % keys.count])
                    series.inc()
                    XCTAssertEqual(series.labelValues.count, 1)
                }
            }
        }
        XCTAssertLessThanOrEqual(family.seriesCount, keys.count)
        let exported = family.allSeries.reduce(0.0) { $0 + $1.value }
        XCTAssertLessThanOrEqual(exported, Double(rounds * 3))
    }

    /// A million series made and removed: what is freed stays freed (a plugin host that loads
    /// and unloads plugins for months must not grow).
    func testAMillionSeriesAddedAndRemovedLeaveMemoryBounded() throws {
        let registry = Registry()
        let family = try registry.counter("churn_total", help: "Churn.", labelNames: ["plugin", "phase"])
        let total = ProcessInfo.processInfo.environment["VIGIL_TSAN"] == nil ? 1_000_000 : 100_000
        func residentBytes() -> Int {
            let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
            return (Int(statm.split(separator: " ")[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
        }
        let warmUp = total / 10
        for i in 0..<warmUp {
            family.labels("p\(i % 7)", "phase\(i)").inc()
            family.remove("p\(i % 7)", "phase\(i)")
        }
        let before = residentBytes()
        for i in warmUp..<total {
            family.labels("p\(i % 7)", "phase\(i)").inc()
            family.remove("p\(i % 7)", "phase\(i)")
        }
        let grown = residentBytes() - before
        XCTAssertEqual(family.seriesCount, 0)
        XCTAssertLessThanOrEqual(family.garbageCount, family.garbageBatch)
        XCTAssertLessThanOrEqual(family.tableCapacity, 64, "the table must not keep growing with tombstones")
        // Each series costs a few hundred bytes: a leak of 900,000 would be hundreds of megabytes.
        XCTAssertLessThan(grown, 32 << 20, "resident memory grew by \(grown >> 20) MiB over \(total - warmUp) series made and removed")
    }
}

/// The grace period itself: what makes freeing a removed series safe.
final class GracePeriodTests: XCTestCase {
    /// A thread that found a series may still be using it: its removal is not finished, and
    /// the series not freed, until that thread's read section is over.
    func testARemovedSeriesIsNotFreedWhileALookupThatMayHoldItIsUnderWay() throws {
        MetricFamilyTuning.garbageBatch = 1
        defer { MetricFamilyTuning.garbageBatch = 256 }
        let family = try Registry().counter("held_total", help: "H.", labelNames: ["k"])
        weak var removed: Counter?
        do { removed = family.labels("a") }
        XCTAssertNotNil(removed, "the family holds its series")

        let inside = DispatchSemaphore(value: 0), leave = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            let section = ReadSection.enter()  // as a lookup does before it loads the table
            inside.signal()
            leave.wait()
            ReadSection.exit(section)
        }
        inside.wait()
        DispatchQueue.global().async {
            family.remove("a")
            done.signal()
        }
        // A bounded negative check: the removal must still be waiting after this long.
        XCTAssertEqual(done.wait(timeout: .now() + .milliseconds(200)), .timedOut, "the removal did not wait for the open read section")
        XCTAssertNotNil(removed, "the series was freed while a lookup could still be inside it")
        leave.signal()
        XCTAssertEqual(done.wait(timeout: .now() + .seconds(10)), .success)
        XCTAssertNil(removed, "once the grace period is over the removed series is freed")
    }

    func testSynchronizeReturnsAtOnceWhenNoSectionIsOpenAndSectionsNest() {
        let outer = ReadSection.enter()
        let inner = ReadSection.enter()
        ReadSection.exit(inner)
        ReadSection.exit(outer)
        // Nested sections closed, none open: a grace period has nothing to wait for.
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            ReadSection.synchronize()
            done.signal()
        }
        XCTAssertEqual(done.wait(timeout: .now() + .seconds(10)), .success, "synchronize waited for a section that was closed")
    }
}
