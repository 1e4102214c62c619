import Foundation
import VigilMetrics
import VigilTestSupport
import VigilTracing
import XCTest
@testable import VigilExport

/// Spans to the Python receiver over HTTPS, with certificates the test makes: what is trusted,
/// which client certificate is shown, and what a failure says and counts.
final class TLSExportTests: XCTestCase {
    struct Pipeline {
        let tracer: Tracer
        let registry: Registry
        let exporter: OTLPHTTPExporter
    }

    /// A tracer exporting to `endpoint` with `tls`; retries would be quick, so that a test sees
    /// them if a failure were retried.
    func pipeline(_ endpoint: String, tls: TLSClientConfiguration) -> Pipeline {
        pipeline(OTLPConfiguration(tracesEndpoint: endpoint, tls: tls))
    }

    func pipeline(_ configuration: OTLPConfiguration) -> Pipeline {
        var configuration = configuration
        configuration.retry.initialBackoff = .milliseconds(10)
        configuration.retry.maxBackoff = .milliseconds(20)
        let registry = Registry()
        let exporter = OTLPHTTPExporter(configuration: configuration, resource: TelemetryResource(attributes: [Attribute("service.name", "tls-tests")]), registry: registry)
        var config = BatchSpanProcessor.Configuration()
        config.scheduleDelay = .milliseconds(50)
        let processor = BatchSpanProcessor(exporter: exporter, configuration: config, registry: registry)
        return Pipeline(tracer: Tracer(resource: exporter.resource, processor: processor, registry: registry), registry: registry, exporter: exporter)
    }

    /// Ends one span and flushes it; returns the exposition afterwards.
    func exportOneSpan(_ p: Pipeline, _ name: String = "over-tls") async -> String {
        p.tracer.withSpan(name) { _ in }
        await p.tracer.forceFlush()
        return p.registry.renderString()
    }

    func assertCountedAsAFailure(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(text.contains("vigil_push_total{target=\"otlp\",result=\"failure\"} 1\n"), text, file: file, line: line)
        XCTAssertTrue(text.contains("vigil_push_total{target=\"otlp\",result=\"success\"} 0\n"), text, file: file, line: line)
        XCTAssertTrue(text.contains("vigil_spans_dropped_total{reason=\"export_failed\"} 1\n"), text, file: file, line: line)
    }

    func testSpansReachAReceiverThatRequiresAClientCertificateWhenTheCAAndTheCertificateAreGiven() async throws {
        let certificates = try TestCertificates()
        let receiver = try OTLPReceiver(certificates: certificates, requireClientCertificate: true)
        let p = pipeline(receiver.endpoint, tls: TLSClientConfiguration(caFile: certificates.caFile, certFile: certificates.clientCertificate, keyFile: certificates.clientKey))
        XCTAssertTrue(receiver.endpoint.hasPrefix("https://127.0.0.1:"))
        let text = await exportOneSpan(p)
        let received = try await receiver.received()
        XCTAssertEqual(received.count, 1)
        XCTAssertNil(received.first?.error)
        XCTAssertEqual(received.first?.spans?.map(\.name), ["over-tls"], "decoded by opentelemetry-proto")
        XCTAssertEqual(received.first?.client_subject, "vigil-client")
        XCTAssertTrue(text.contains("vigil_push_total{target=\"otlp\",result=\"success\"} 1\n"), text)
        XCTAssertTrue(text.contains("vigil_spans_exported_total 1\n"), text)
        await p.tracer.shutdown()
    }

    func testAReceiverSignedByAnUnknownCAFailsAtOnceNamingTheURLAndTheVerificationFailure() async throws {
        let certificates = try TestCertificates()
        let receiver = try OTLPReceiver(certificates: certificates, requireClientCertificate: true)
        // The system's CAs, which have never heard of the test's.
        let p = pipeline(receiver.endpoint, tls: TLSClientConfiguration(certFile: certificates.clientCertificate, keyFile: certificates.clientKey))
        let text = await exportOneSpan(p)
        let failure = try XCTUnwrap(p.exporter.lastFailure)
        XCTAssertTrue(failure.hasPrefix("POST \(receiver.endpoint): SSL certificate problem: "), failure)
        XCTAssertTrue(failure.contains("(curl error 60); not retried (the target's certificate is not trusted"), failure)
        XCTAssertTrue(failure.hasSuffix("(1 attempt)"), failure)
        assertCountedAsAFailure(text)
        let received = try await receiver.received()
        XCTAssertEqual(received.count, 0)
        await p.tracer.shutdown()
    }

    func testWithoutAClientCertificateTheRefusalSaysOneIsRequiredAndIsNotRetried() async throws {
        let certificates = try TestCertificates()
        let receiver = try OTLPReceiver(certificates: certificates, requireClientCertificate: true)
        let p = pipeline(receiver.endpoint, tls: TLSClientConfiguration(caFile: certificates.caFile))
        let text = await exportOneSpan(p)
        let failure = try XCTUnwrap(p.exporter.lastFailure)
        XCTAssertTrue(failure.hasPrefix("POST \(receiver.endpoint): "), failure)
        XCTAssertTrue(failure.contains("alert certificate required"), failure)
        XCTAssertTrue(failure.contains("not retried (the target requires a client certificate"), failure)
        XCTAssertTrue(failure.hasSuffix("(1 attempt)"), failure)
        assertCountedAsAFailure(text)
        let refused = try await receiver.refusedHandshakes()
        XCTAssertEqual(refused, ["PEER_DID_NOT_RETURN_A_CERTIFICATE"])
        await p.tracer.shutdown()
    }

    func testAClientCertificateFromAnotherCAIsRefusedAndNotRetried() async throws {
        let certificates = try TestCertificates()
        let receiver = try OTLPReceiver(certificates: certificates, requireClientCertificate: true)
        let p = pipeline(receiver.endpoint, tls: TLSClientConfiguration(caFile: certificates.caFile, certFile: certificates.strangerCertificate, keyFile: certificates.strangerKey))
        let text = await exportOneSpan(p)
        let failure = try XCTUnwrap(p.exporter.lastFailure)
        XCTAssertTrue(failure.contains("alert unknown ca"), failure)
        XCTAssertTrue(failure.contains("not retried (the target refused the TLS handshake"), failure)
        XCTAssertTrue(failure.hasSuffix("(1 attempt)"), failure)
        assertCountedAsAFailure(text)
        await p.tracer.shutdown()
    }

    func testAServerNameIsWhatTheCertificateMustNameWhileTheConnectionGoesToTheURL() async throws {
        let certificates = try TestCertificates()
        let receiver = try OTLPReceiver(certificates: certificates)
        var tls = TLSClientConfiguration(caFile: certificates.caFile, serverName: TestCertificates.serverName)
        let named = pipeline(receiver.endpoint, tls: tls)
        let delivered = await exportOneSpan(named, "named")
        XCTAssertTrue(delivered.contains("vigil_push_total{target=\"otlp\",result=\"success\"} 1\n"), delivered)
        let received = try await receiver.received()
        XCTAssertEqual(received.flatMap { $0.spans ?? [] }.map(\.name), ["named"])
        await named.tracer.shutdown()

        tls.serverName = "elsewhere.vigil.test"
        let misnamed = pipeline(receiver.endpoint, tls: tls)
        let text = await exportOneSpan(misnamed)
        let failure = try XCTUnwrap(misnamed.exporter.lastFailure)
        XCTAssertTrue(failure.hasPrefix("POST \(receiver.endpoint): "), "the URL, not the server name: \(failure)")
        XCTAssertTrue(failure.contains("'elsewhere.vigil.test'"), failure)
        XCTAssertTrue(failure.contains("(curl error 60); not retried"), failure)
        assertCountedAsAFailure(text)
        await misnamed.tracer.shutdown()
    }

    func testInsecureSkipVerifyAcceptsACertificateNobodySigned() async throws {
        let certificates = try TestCertificates()
        let receiver = try OTLPReceiver(certificates: certificates)
        let p = pipeline(receiver.endpoint, tls: TLSClientConfiguration(insecureSkipVerify: true))
        let text = await exportOneSpan(p)
        XCTAssertTrue(text.contains("vigil_push_total{target=\"otlp\",result=\"success\"} 1\n"), text)
        await p.tracer.shutdown()
    }

    func testTheOpenTelemetryVariablesNameTheTLSFilesAndTheTracesOnesWin() async throws {
        let certificates = try TestCertificates()
        let receiver = try OTLPReceiver(certificates: certificates, requireClientCertificate: true)
        let configuration = OTLPConfiguration.fromEnvironment([
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/general-ca.pem",
            "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": certificates.caFile,
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": certificates.clientCertificate,
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY": certificates.clientKey,
            "OTEL_EXPORTER_OTLP_CLIENT_KEY": "",
        ])
        XCTAssertEqual(configuration.tls, TLSClientConfiguration(caFile: certificates.caFile, certFile: certificates.clientCertificate, keyFile: certificates.clientKey))
        let p = pipeline(configuration)
        let text = await exportOneSpan(p)
        XCTAssertTrue(text.contains("vigil_push_total{target=\"otlp\",result=\"success\"} 1\n"), text)
        let received = try await receiver.received()
        XCTAssertEqual(received.first?.client_subject, "vigil-client")
        await p.tracer.shutdown()
    }

    func testTLSFilesAreCheckedForWhatTheyHold() throws {
        let certificates = try TestCertificates()
        XCTAssertNil(TLSClientConfiguration.problem(reading: certificates.caFile, as: .certificate))
        XCTAssertNil(TLSClientConfiguration.problem(reading: certificates.clientKey, as: .privateKey))
        XCTAssertEqual(TLSClientConfiguration.problem(reading: "/nonexistent/ca.pem", as: .certificate), "cannot read \"/nonexistent/ca.pem\": No such file or directory")
        XCTAssertTrue(TLSClientConfiguration.problem(reading: certificates.clientKey, as: .certificate)?.hasPrefix("\"\(certificates.clientKey)\" holds no PEM certificate") == true)
        XCTAssertTrue(TLSClientConfiguration.problem(reading: certificates.caFile, as: .privateKey)?.hasPrefix("\"\(certificates.caFile)\" holds no PEM private key") == true)
    }
}
