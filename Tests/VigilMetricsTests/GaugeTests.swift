import XCTest
@testable import VigilMetrics

final class GaugeTests: XCTestCase {
    func testSetIncAndDec() throws {
        let gauge = try Registry().gauge("queue_length", help: "Queue.")
        gauge.set(10)
        gauge.inc()
        gauge.inc(by: 2.5)
        gauge.dec(by: 4)
        XCTAssertEqual(gauge.value, 9.5)
        gauge.set(-3)
        XCTAssertEqual(gauge.value, -3)
    }

    func testGaugesMayHoldNaNAndInfinity() throws {
        let registry = Registry()
        let a = try registry.gauge("a", help: "A.")
        let b = try registry.gauge("b", help: "B.")
        let c = try registry.gauge("c", help: "C.")
        a.set(.nan)
        b.set(.infinity)
        c.set(-.infinity)
        let text = registry.renderString()
        XCTAssertTrue(text.contains("\na NaN\n"), text)
        XCTAssertTrue(text.contains("\nb +Inf\n"), text)
        XCTAssertTrue(text.contains("\nc -Inf\n"), text)
    }

    func testConcurrentAddsLandExactly() throws {
        let gauge = try Registry().gauge("g", help: "G.")
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            for _ in 0..<10_000 { i.isMultiple(of: 2) ? gauge.inc() : gauge.inc(by: 2) }
        }
        XCTAssertEqual(gauge.value, 4 * 10_000 + 4 * 20_000)
    }
}
