import Foundation
import Vigil
import XCTest
@testable import VigilSidecar

/// `smaps:` on a plugin in vigil.yml: the switch for PSS and swap.
final class SmapsConfigTests: XCTestCase {
    func testSmapsIsOffUnlessAPluginAsks() throws {
        let config = try SidecarConfig.parse("""
            plugins:
              - name: ocr
                smaps: true
                match: [{comm: [ocr]}]
              - name: asr
                match: [{comm: [asr]}]
            """, file: "t.yml")
        XCTAssertEqual(config.plugins.map(\.smaps), [true, false])
    }

    func testSmapsMustBeABoolean() {
        XCTAssertThrowsError(try SidecarConfig.parse("plugins:\n  - name: ocr\n    smaps: often\n    match: [{comm: [ocr]}]\n", file: "bad.yml")) {
            XCTAssertTrue("\($0)".hasPrefix("bad.yml:3: plugins[0].smaps:"), "\($0)")
        }
    }
}
