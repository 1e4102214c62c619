import CCurl
import Dispatch
import VigilContract
import VigilSupport

/// An HTTP request for a push target.
public struct HTTPRequest: Sendable {
    /// `GET`, `HEAD`, `PUT`, `POST`, `DELETE` or any other token; others than GET and HEAD send `body`.
    public var method: String
    /// The absolute URL; credentials in it are sent and never logged.
    public var url: String
    /// Header fields, in order; libcurl adds `Host`, `User-Agent` and `Content-Length`.
    public var headers: [(name: String, value: String)]
    /// The bytes sent (ignored by GET and HEAD).
    public var body: [UInt8]
    /// The longest the whole transfer may take; connecting takes at most 10 s of it.
    public var timeout: Duration
    /// How an `https` target is verified and which client certificate is shown to it.
    public var tls: TLSClientConfiguration

    /// A request; by default a body-less one with a 10 s time-out and the system's CAs.
    public init(method: String, url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
                timeout: Duration = .seconds(10), tls: TLSClientConfiguration = TLSClientConfiguration()) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.tls = tls
    }
}

/// What came back.
public struct HTTPResponse: Sendable {
    /// The HTTP status code.
    public var status: Int
    /// The final response's header fields, in order (those of redirects and `100 Continue` dropped).
    public var headers: [(name: String, value: String)]
    /// At most the client's `maximumBodyBytes`; the rest is read and discarded.
    public var body: [UInt8]

    /// The first value of header `name`, compared without regard to case.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// A transfer that did not produce an HTTP response.
public struct HTTPClientError: Error, CustomStringConvertible, Sendable {
    /// libcurl's code (CURLcode); `cancelledCode` when the caller's task was cancelled,
    /// `libraryUnavailableCode` when libcurl could not be loaded.
    public var code: Int
    /// libcurl's wording of the error: the detailed one (`CURLOPT_ERRORBUFFER`, such as
    /// `SSL certificate problem: unable to get local issuer certificate`) when there is one,
    /// else `curl_easy_strerror`'s.
    public var message: String
    /// The URL, with any user name and password replaced by `REDACTED`.
    public var url: String

    /// The code of a transfer abandoned because the task awaiting it was cancelled: libcurl's
    /// `CURLE_ABORTED_BY_CALLBACK` (42), the code of a transfer its application stopped.
    public static let cancelledCode = Int(CURLE_ABORTED_BY_CALLBACK.rawValue)

    /// The code of a transfer never tried because libcurl could not be loaded (it is loaded when
    /// the first client is made, not linked): `message` says what is missing and how to install it.
    public static let libraryUnavailableCode = -2

    static func cancelled(url: String) -> HTTPClientError {
        HTTPClientError(code: cancelledCode, message: "cancelled before the response came; the transfer was abandoned", url: url)
    }

    /// Whether the task awaiting the transfer was cancelled (and the transfer abandoned).
    public var isCancellation: Bool { code == Self.cancelledCode }

    /// Connection refused, DNS failure, time-out, reset: worth another try. A TLS failure is not
    /// (an unknown CA, a refused or missing client certificate, a name mismatch do not pass),
    /// except a connection lost during the handshake.
    public var isTransient: Bool {
        switch code {
        case 6, 7, 28, 52: true  // couldn't resolve, couldn't connect, time-out, empty reply
        // SSL connect, send and receive errors: transient unless the peer refused us with a TLS
        // alert (a missing or unknown client certificate) or does not speak TLS at all.
        case 35, 55, 56: !(message.contains(" alert ") || message.contains("wrong version number"))
        default: false
        }
    }

    /// Whether libcurl could not be loaded, so that no transfer was tried (see `message`).
    public var isLibraryUnavailable: Bool { code == Self.libraryUnavailableCode }

    public var description: String {
        isCancellation || isLibraryUnavailable ? "\(url): \(message)" : "\(url): \(message) (curl error \(code))"
    }
}

/// HTTP over libcurl, with connections kept alive per client. Transfers run one at a time on a
/// thread of the client's own, never on the caller's or on Swift's cooperative pool; cancelling
/// the awaiting task abandons its transfer within about 100 ms.
///
/// libcurl is loaded (dlopen) when the process makes its first client, not linked: a sidecar that
/// pushes nowhere never maps it nor the TLS libraries it brings (about 5 MB resident). Where
/// libcurl.so.4 is missing, every `send` fails with an `HTTPClientError` whose
/// `isLibraryUnavailable` is true and whose message says what to install.
public final class HTTPClient: Sendable {
    /// Response bodies past this many bytes are discarded: a push target's answer is short.
    public let maximumBodyBytes: Int
    /// `vigil/<version> libcurl/<version>`, sent with every request. Reading it loads libcurl
    /// (the transfers read it, once a client has loaded it); `vigil/<version> libcurl` without it.
    public static let userAgent = "vigil/\(VigilVersion.current) "
        + ((libraryError == nil ? vigil_curl_version() : nil).flatMap { String(cString: $0).split(separator: " ").first.map(String.init) } ?? "libcurl")

    private let queue = DispatchQueue(label: "vigil.http-client")
    // Used on `queue` only; the one exception is curl_multi_wakeup, which libcurl lets any
    // thread call. The multi handle holds the kept-alive connections.
    private nonisolated(unsafe) let easy: UnsafeMutableRawPointer?
    private nonisolated(unsafe) let multi: UnsafeMutableRawPointer?

    /// Why libcurl could not be loaded; nil once it is. vigil_curl_load loads it, resolves its
    /// functions and calls curl_global_init, once per process, before any handle is made.
    private static let libraryError: String? = {
        let capacity = 1024
        let error = UnsafeMutablePointer<CChar>.allocate(capacity: capacity)
        defer { error.deallocate() }
        error.initialize(repeating: 0, count: capacity)
        return vigil_curl_load(error, capacity) ? nil : String(cString: error)
    }()
    /// `libraryError` when this client was made: its transfers fail with it.
    private let unavailable: String?

    /// A client with its own libcurl handles and thread. The first one loads libcurl; where it
    /// cannot be loaded, the client is made all the same and each `send` fails saying why.
    public init(maximumBodyBytes: Int = 64 * 1024) {
        self.maximumBodyBytes = maximumBodyBytes
        unavailable = Self.libraryError
        easy = unavailable == nil ? vigil_curl_easy_init() : nil
        multi = unavailable == nil ? vigil_curl_multi_init() : nil
    }

    deinit {
        if let multi { vigil_curl_multi_cleanup(multi) }
        if let easy { vigil_curl_easy_cleanup(easy) }
    }

    /// Performs `request`; throws only when no HTTP response came back. When the calling task is
    /// cancelled the transfer is abandoned (its connection closed) and this throws an error whose
    /// `isCancellation` is true, within about 100 ms, whatever the target does meanwhile.
    public func send(_ request: HTTPRequest) async throws(HTTPClientError) -> HTTPResponse {
        let call = Call(url: Redaction.url(request.url))
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                guard call.attach(continuation) else { return }
                queue.async {
                    guard call.start() else { return }
                    call.finish(self.perform(request, call))
                }
            }
        } onCancel: {
            call.cancel()
            if let multi { vigil_curl_multi_wakeup(multi) }  // out of curl_multi_poll now, not at its time-out
        }
        return try result.get()
    }

    /// One `send`: who is waiting for its answer, and whether its task was cancelled. The caller
    /// is answered once: by the transfer, or by a cancellation before the transfer began (a
    /// request queued behind a hung one of the same client is not held up by it).
    private final class Call: Sendable {
        typealias Answer = Result<HTTPResponse, HTTPClientError>
        private enum Phase { case queued, running, answered }
        private struct State {
            var phase = Phase.queued
            var cancelled = false
            var continuation: CheckedContinuation<Answer, Never>?
        }

        let url: String
        private let state = Locked(State())

        init(url: String) { self.url = url }

        /// Keeps `continuation` for the answer; false, having answered, when already cancelled.
        func attach(_ continuation: CheckedContinuation<Answer, Never>) -> Bool {
            let cancelled = state.withLock { state in
                if state.cancelled { state.phase = .answered } else { state.continuation = continuation }
                return state.cancelled
            }
            if cancelled { continuation.resume(returning: .failure(.cancelled(url: url))) }
            return !cancelled
        }

        /// On the client's queue: whether the transfer is still wanted.
        func start() -> Bool {
            state.withLock { state in
                guard state.phase == .queued else { return false }
                state.phase = .running
                return true
            }
        }

        var isCancelled: Bool { state.withLock { $0.cancelled } }

        func finish(_ answer: Answer) {
            let continuation = state.withLock { state in
                defer { state.continuation = nil }
                state.phase = .answered
                return state.continuation
            }
            continuation?.resume(returning: answer)
        }

        /// Marks the call cancelled: a running transfer stops at its next look at `isCancelled`;
        /// a queued one is answered now and never started.
        func cancel() {
            let queued = state.withLock { state in
                state.cancelled = true
                return state.phase == .queued && state.continuation != nil
            }
            if queued { finish(.failure(.cancelled(url: url))) }
        }
    }

    private final class Transfer {
        var body: [UInt8] = []
        var headers: [(name: String, value: String)] = []
        var upload: [UInt8]
        var uploaded = 0
        let limit: Int
        init(upload: [UInt8], limit: Int) {
            self.upload = upload
            self.limit = limit
        }
    }

    private func perform(_ request: HTTPRequest, _ call: Call) -> Result<HTTPResponse, HTTPClientError> {
        func failure(_ code: Int, _ message: String) -> Result<HTTPResponse, HTTPClientError> {
            .failure(HTTPClientError(code: code, message: message, url: call.url))
        }
        if let unavailable { return failure(HTTPClientError.libraryUnavailableCode, unavailable) }
        guard let easy, let multi else { return failure(-1, "libcurl could not make a handle") }
        vigil_curl_easy_reset(easy)
        let transfer = Transfer(upload: request.body, limit: maximumBodyBytes)
        let context = Unmanaged.passRetained(transfer)
        defer { context.release() }
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(to: 0)
        defer { errorBuffer.deallocate() }
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { vigil_curl_slist_free_all(headerList) }
        var connectTo: UnsafeMutablePointer<curl_slist>?
        defer { vigil_curl_slist_free_all(connectTo) }

        var url = request.url
        if let name = request.tls.serverName, let redirected = Self.redirect(request.url, toServerName: name) {
            url = redirected.url
            connectTo = vigil_curl_slist_append(connectTo, redirected.connectTo)
            if !request.headers.contains(where: { $0.name.lowercased() == "host" }) {
                headerList = vigil_curl_slist_append(headerList, "Host: \(redirected.host)")
            }
        }
        for header in request.headers {
            headerList = vigil_curl_slist_append(headerList, "\(header.name): \(header.value)")
        }
        // An empty `Expect:` stops libcurl from waiting a second for `100 Continue`.
        headerList = vigil_curl_slist_append(headerList, "Expect:")

        vigil_curl_set_string(easy, CURLOPT_URL, url)
        vigil_curl_set_pointer(easy, CURLOPT_ERRORBUFFER, errorBuffer)
        vigil_curl_set_string(easy, CURLOPT_USERAGENT, Self.userAgent)
        vigil_curl_set_long(easy, CURLOPT_NOSIGNAL, 1)
        vigil_curl_set_long(easy, CURLOPT_TIMEOUT_MS, request.timeout.milliseconds(atLeast: 1))
        vigil_curl_set_long(easy, CURLOPT_CONNECTTIMEOUT_MS, min(request.timeout.milliseconds(atLeast: 1), 10_000))
        vigil_curl_set_long(easy, CURLOPT_TCP_KEEPALIVE, 1)
        vigil_curl_set_pointer(easy, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(headerList))
        if let connectTo { vigil_curl_set_pointer(easy, CURLOPT_CONNECT_TO, UnsafeMutableRawPointer(connectTo)) }
        Self.apply(request.tls, to: easy)
        vigil_curl_set_callback(easy, CURLOPT_WRITEFUNCTION) { data, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            let n = size * count
            let room = max(0, transfer.limit - transfer.body.count)
            if room > 0, let data {
                transfer.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: min(n, room)))
            }
            return n
        }
        vigil_curl_set_pointer(easy, CURLOPT_WRITEDATA, context.toOpaque())
        vigil_curl_set_callback(easy, CURLOPT_HEADERFUNCTION) { data, size, count, context in
            let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
            let n = size * count
            guard let data else { return n }
            let line = String(decoding: UnsafeRawBufferPointer(start: data, count: n), as: UTF8.self)
            if line.hasPrefix("HTTP/") { transfer.headers.removeAll() }  // a new response (after a redirect or 100)
            if let colon = line.firstIndex(of: ":") {
                let name = String(line[..<colon])
                let value = String(line[line.index(after: colon)...].trimmed(" \t\r\n"))
                transfer.headers.append((name, value))
            }
            return n
        }
        vigil_curl_set_pointer(easy, CURLOPT_HEADERDATA, context.toOpaque())
        switch request.method {
        case "GET": vigil_curl_set_long(easy, CURLOPT_HTTPGET, 1)
        case "HEAD": vigil_curl_set_long(easy, CURLOPT_NOBODY, 1)
        default:
            vigil_curl_set_string(easy, CURLOPT_CUSTOMREQUEST, request.method)
            vigil_curl_set_long(easy, CURLOPT_UPLOAD, request.method == "PUT" ? 1 : 0)
            if request.method != "PUT" { vigil_curl_set_long(easy, CURLOPT_POST, 1) }
            vigil_curl_set_off_t(easy, request.method == "PUT" ? CURLOPT_INFILESIZE_LARGE : CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
            vigil_curl_set_callback(easy, CURLOPT_READFUNCTION) { buffer, size, count, context in
                let transfer = Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue()
                let n = min(size * count, transfer.upload.count - transfer.uploaded)
                if n > 0, let buffer {
                    transfer.upload.withUnsafeBytes { source in
                        UnsafeMutableRawPointer(buffer).copyMemory(from: source.baseAddress! + transfer.uploaded, byteCount: n)
                    }
                    transfer.uploaded += n
                }
                return n
            }
            vigil_curl_set_pointer(easy, CURLOPT_READDATA, context.toOpaque())
        }

        // The multi interface rather than curl_easy_perform, so that the transfer can be given up:
        // between two steps the loop looks at the call's cancellation, and a cancellation wakes
        // the wait (curl_multi_wakeup), which otherwise lasts at most 100 ms.
        // Reset when done, before what the options point to is freed.
        defer { vigil_curl_easy_reset(easy) }
        guard vigil_curl_multi_add_handle(multi, easy) == CURLM_OK else { return failure(-1, "libcurl could not start the transfer") }
        defer { vigil_curl_multi_remove_handle(multi, easy) }  // mid-transfer, this closes the connection
        while true {
            if call.isCancelled { return .failure(.cancelled(url: call.url)) }
            var running: Int32 = 0
            let step = vigil_curl_multi_perform(multi, &running)
            guard step == CURLM_OK else { return failure(-1, String(cString: vigil_curl_multi_strerror(step))) }
            if running == 0 { break }
            vigil_curl_multi_poll(multi, nil, 0, 100, nil)
        }
        var code = CURLE_OK
        var left: Int32 = 0
        while let message = vigil_curl_multi_info_read(multi, &left) {
            if message.pointee.msg == CURLMSG_DONE { code = message.pointee.data.result }
        }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer).trimmed(" \t\r\n")
            return failure(Int(code.rawValue), detail.isEmpty ? String(cString: vigil_curl_easy_strerror(code)) : String(detail))
        }
        var status = 0
        vigil_curl_get_long(easy, CURLINFO_RESPONSE_CODE, &status)
        return .success(HTTPResponse(status: status, headers: transfer.headers, body: transfer.body))
    }

    /// The TLS options of a request. libcurl copies the strings.
    private static func apply(_ tls: TLSClientConfiguration, to easy: UnsafeMutableRawPointer) {
        if let ca = tls.caFile {
            vigil_curl_set_string(easy, CURLOPT_CAINFO, ca)
            vigil_curl_set_pointer(easy, CURLOPT_CAPATH, nil)  // the CA file replaces the system's CAs, as in Prometheus
        }
        if let cert = tls.certFile {
            vigil_curl_set_string(easy, CURLOPT_SSLCERT, cert)
            vigil_curl_set_string(easy, CURLOPT_SSLCERTTYPE, "PEM")
        }
        if let key = tls.keyFile {
            vigil_curl_set_string(easy, CURLOPT_SSLKEY, key)
            vigil_curl_set_string(easy, CURLOPT_SSLKEYTYPE, "PEM")
        }
        vigil_curl_set_long(easy, CURLOPT_SSL_VERIFYPEER, tls.insecureSkipVerify ? 0 : 1)
        vigil_curl_set_long(easy, CURLOPT_SSL_VERIFYHOST, tls.insecureSkipVerify ? 0 : 2)
    }

    /// For `TLSClientConfiguration.serverName`: the URL with its host replaced by the server name (the
    /// name libcurl sends as SNI and verifies), the `CURLOPT_CONNECT_TO` entry that still sends the
    /// connection to the URL's host and port, and the `Host` header value that names them. Nil
    /// when libcurl cannot parse the URL (the transfer then fails on it).
    static func redirect(_ url: String, toServerName name: String) -> (url: String, connectTo: String, host: String)? {
        guard libraryError == nil, let parsed = vigil_curl_url() else { return nil }
        defer { vigil_curl_url_cleanup(parsed) }
        func part(_ which: CURLUPart, _ flags: Int32 = 0) -> String? {
            var value: UnsafeMutablePointer<CChar>?
            guard vigil_curl_url_get(parsed, which, &value, UInt32(flags)) == CURLUE_OK, let value else { return nil }
            defer { vigil_curl_free(value) }
            return String(cString: value)
        }
        guard vigil_curl_url_set(parsed, CURLUPART_URL, url, 0) == CURLUE_OK,
              let host = part(CURLUPART_HOST), let port = part(CURLUPART_PORT, CURLU_DEFAULT_PORT),
              vigil_curl_url_set(parsed, CURLUPART_HOST, name, 0) == CURLUE_OK, let rewritten = part(CURLUPART_URL)
        else { return nil }
        let explicitPort = part(CURLUPART_PORT)
        return (rewritten, "\(name):\(port):\(host):\(port)", explicitPort.map { "\(host):\($0)" } ?? host)
    }
}

/// Keeps secrets out of logs and error messages.
public enum Redaction {
    /// `https://user:secret@host/path` → `https://REDACTED@host/path`.
    public static func url(_ url: String) -> String {
        let characters = Array(url)
        guard let colon = (0..<max(0, characters.count - 2)).first(where: {
            characters[$0] == ":" && characters[$0 + 1] == "/" && characters[$0 + 2] == "/"
        }) else { return url }
        let start = colon + 3
        let end = characters[start...].firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? characters.count
        guard let at = characters[start..<end].lastIndex(of: "@") else { return url }
        let head = String(characters[..<start])
        let tail = String(characters[at...])
        return head + "REDACTED" + tail
    }
}
