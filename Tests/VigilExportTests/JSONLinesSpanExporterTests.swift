import Foundation
import VigilOTLP
import XCTest
@testable import VigilExport
@testable import VigilTracing

final class JSONLinesSpanExporterTests: XCTestCase {
    var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-jsonl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    var path: String { directory.appendingPathComponent("traces.jsonl").path }

    func batch(_ number: Int, spans: Int = 3) -> [SpanData] {
        (0..<spans).map { i in
            SpanData(
                name: "batch-\(number)", context: SpanContext(traceID: .random(), spanID: .random()), parentSpanID: nil, kind: .internal,
                startTimeUnixNano: 1, endTimeUnixNano: 2, attributes: [Attribute("i", .int(Int64(i)))], events: [], links: [],
                status: .unset, droppedAttributes: 0, droppedEvents: 0, droppedLinks: 0)
        }
    }

    /// The size of one line holding `batch(_:)`'s spans.
    func lineSize(spans: Int = 3) -> Int {
        OTLPJSON.encode(batch(0, spans: spans), resource: resource).count + 1
    }

    let resource = TelemetryResource(attributes: [Attribute("service.name", "jsonl-test")])

    /// The files in the directory, by name, with their lines.
    func files() throws -> [String: [Substring]] {
        var out: [String: [Substring]] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            let text = try String(contentsOfFile: directory.appendingPathComponent(name).path, encoding: .utf8)
            XCTAssertTrue(text.isEmpty || text.hasSuffix("\n"), "\(name) ends in a whole line")
            out[name] = text.split(separator: "\n")
        }
        return out
    }

    /// The batch number of a line, checking that it is a whole OTLP/JSON request.
    func batchNumber(_ line: Substring) throws -> Int {
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let resourceSpans = try XCTUnwrap(object["resourceSpans"] as? [[String: Any]])
        let scopeSpans = try XCTUnwrap(resourceSpans.first?["scopeSpans"] as? [[String: Any]])
        let spans = try XCTUnwrap(scopeSpans.first?["spans"] as? [[String: Any]])
        XCTAssertEqual(spans.count, 3)
        let name = try XCTUnwrap(spans.first?["name"] as? String)
        return try XCTUnwrap(Int(name.dropFirst("batch-".count)))
    }

    func testDefaultsCapAt16MiBAndKeepOneRotatedFile() {
        let exporter = JSONLinesSpanExporter(path: path, resource: resource)
        XCTAssertEqual(exporter.maxBytes, 16 * 1024 * 1024)
        XCTAssertEqual(exporter.keep, 1)
    }

    func testWritesPastTheCapRotateToPathDotOne() async throws {
        let maxBytes = lineSize() * 4 + 10  // four lines a file
        let exporter = JSONLinesSpanExporter(path: path, resource: resource, maxBytes: maxBytes)
        for number in 1...4 {
            let result = await exporter.export(batch(number))
            XCTAssertEqual(result, .success)
        }
        XCTAssertEqual(try files().keys.sorted(), ["traces.jsonl"], "four lines fit")
        let fifth = await exporter.export(batch(5))
        XCTAssertEqual(fifth, .success)
        let afterOne = try files()
        XCTAssertEqual(afterOne.keys.sorted(), ["traces.jsonl", "traces.jsonl.1"])
        XCTAssertEqual(try afterOne["traces.jsonl.1"]!.map(batchNumber), [1, 2, 3, 4])
        XCTAssertEqual(try afterOne["traces.jsonl"]!.map(batchNumber), [5])

        for number in 6...13 { _ = await exporter.export(batch(number)) }
        let later = try files()
        XCTAssertEqual(later.keys.sorted(), ["traces.jsonl", "traces.jsonl.1"], "never more than keep + 1 files")
        XCTAssertEqual(try later["traces.jsonl.1"]!.map(batchNumber), [9, 10, 11, 12], "the oldest were dropped")
        XCTAssertEqual(try later["traces.jsonl"]!.map(batchNumber), [13])
    }

    func testDiskUseStaysBoundedAndOlderFilesShiftUpToKeep() async throws {
        let maxBytes = lineSize() * 3 + 1
        let exporter = JSONLinesSpanExporter(path: path, resource: resource, maxBytes: maxBytes, keep: 3)
        var highest: [String] = []
        for number in 1...100 {
            let result = await exporter.export(batch(number))
            XCTAssertEqual(result, .success)
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            XCTAssertLessThanOrEqual(names.count, 4)
            var total = 0
            for name in names {
                let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path)[.size] as? Int)
                XCTAssertLessThanOrEqual(size, maxBytes, name)
                total += size
            }
            XCTAssertLessThanOrEqual(total, 4 * maxBytes)
            highest = names.sorted()
        }
        XCTAssertEqual(highest, ["traces.jsonl", "traces.jsonl.1", "traces.jsonl.2", "traces.jsonl.3"])
        let all = try files()
        let order = try ["traces.jsonl.3", "traces.jsonl.2", "traces.jsonl.1", "traces.jsonl"].flatMap { try all[$0]!.map(batchNumber) }
        XCTAssertEqual(order, Array((100 - order.count + 1)...100), "oldest to newest, none lost between the kept files")
    }

    func testKeepZeroStartsAfreshWithoutRotatedFiles() async throws {
        let exporter = JSONLinesSpanExporter(path: path, resource: resource, maxBytes: lineSize() * 2 + 1, keep: 0)
        for number in 1...5 { _ = await exporter.export(batch(number)) }
        let all = try files()
        XCTAssertEqual(all.keys.sorted(), ["traces.jsonl"])
        XCTAssertEqual(try all["traces.jsonl"]!.map(batchNumber), [5])
    }

    func testABatchLargerThanTheCapIsRefusedAndSaysSo() async throws {
        let exporter = JSONLinesSpanExporter(path: path, resource: resource, maxBytes: 100)
        guard case .failure(let reason) = await exporter.export(batch(1)) else { return XCTFail("written") }
        XCTAssertTrue(reason.hasPrefix("\(path): a batch of \(lineSize()) bytes is larger than maxBytes (100)"), reason)
        XCTAssertEqual(try files().count, 0)
    }

    func testTheFileIsCreatedOwnerOnlyAndNeverOpenedThroughASymbolicLink() async throws {
        let exporter = JSONLinesSpanExporter(path: path, resource: resource)
        let written = await exporter.export(batch(1))
        XCTAssertEqual(written, .success)
        let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        XCTAssertEqual(mode & 0o077, 0, "created readable by its owner only, was \(String(mode, radix: 8))")

        // A link planted where the span file goes: root must not append to what it points at.
        let target = directory.appendingPathComponent("victim").path
        try Data("untouched\n".utf8).write(to: URL(fileURLWithPath: target))
        let linked = directory.appendingPathComponent("linked.jsonl").path
        try FileManager.default.createSymbolicLink(atPath: linked, withDestinationPath: target)
        let viaLink = JSONLinesSpanExporter(path: linked, resource: resource)
        guard case .failure(let reason) = await viaLink.export(batch(2)) else { return XCTFail("written through the link") }
        XCTAssertTrue(reason.contains("symbolic link"), reason)
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "untouched\n")
    }

    func testAFileThatCannotBeOpenedNamesThePathAndTheReason() async {
        let missing = directory.appendingPathComponent("no/such/dir/traces.jsonl").path
        let exporter = JSONLinesSpanExporter(path: missing, resource: resource)
        guard case .failure(let reason) = await exporter.export(batch(1)) else { return XCTFail("written") }
        XCTAssertTrue(reason.contains("\(missing): No such file or directory"), reason)
    }

    func testAnExistingFileIsAppendedToAndRotatedWhenFull() async throws {
        try Data("{\"resourceSpans\":[]}\n".utf8).write(to: URL(fileURLWithPath: path))
        let exporter = JSONLinesSpanExporter(path: path, resource: resource, maxBytes: lineSize() + 10)
        let result = await exporter.export(batch(1))
        XCTAssertEqual(result, .success)
        let all = try files()
        XCTAssertEqual(all["traces.jsonl.1"], ["{\"resourceSpans\":[]}"], "the earlier content was rotated, not truncated")
        XCTAssertEqual(try all["traces.jsonl"]!.map(batchNumber), [1])
    }
}
