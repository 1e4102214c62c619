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

    /// A request; by default a body-less one with a 10 s time-out.
    public init(method: String, url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = [], timeout: Duration = .seconds(10)) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
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
    /// libcurl's code (CURLcode).
    public var code: Int
    /// libcurl's wording of the error (`curl_easy_strerror`).
    public var message: String
    /// The URL, with any user name and password replaced by `REDACTED`.
    public var url: String

    /// Connection refused, DNS failure, time-out, reset: worth another try.
    public var isTransient: Bool {
        [6, 7, 28, 35, 52, 55, 56].contains(code)  // couldn't resolve/connect, timeout, SSL connect, empty reply, send/recv error
    }

    public var description: String { "\(url): \(message) (curl error \(code))" }
}

/// HTTP over libcurl, with one connection kept alive per client. Transfers run one at a time
/// on a thread of the client's own, never on the caller's or on Swift's cooperative pool.
public final class HTTPClient: Sendable {
    /// Response bodies past this many bytes are discarded: a push target's answer is short.
    public let maximumBodyBytes: Int
    /// `vigil/<version> libcurl/<version>`, sent with every request.
    public static let userAgent = "vigil/\(VigilVersion.current) " + (String(cString: curl_version()).split(separator: " ").first.map(String.init) ?? "libcurl")

    private let queue = DispatchQueue(label: "vigil.http-client")
    private let handle: Locked<UnsafeMutableRawPointer?>

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_ALL)) }()

    /// A client with its own libcurl handle and thread.
    public init(maximumBodyBytes: Int = 64 * 1024) {
        self.maximumBodyBytes = maximumBodyBytes
        _ = Self.globalInit
        handle = Locked(curl_easy_init())
    }

    deinit {
        handle.withLock { if let h = $0 { curl_easy_cleanup(h) } }
    }

    /// Performs `request`; throws only when no HTTP response came back.
    public func send(_ request: HTTPRequest) async throws(HTTPClientError) -> HTTPResponse {
        let result: Result<HTTPResponse, HTTPClientError> = await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(returning: self.perform(request))
            }
        }
        return try result.get()
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

    private func perform(_ request: HTTPRequest) -> Result<HTTPResponse, HTTPClientError> {
        handle.withLock { handle in
            guard let easy = handle else {
                return .failure(HTTPClientError(code: -1, message: "libcurl could not make a handle", url: Redaction.url(request.url)))
            }
            curl_easy_reset(easy)
            let transfer = Transfer(upload: request.body, limit: maximumBodyBytes)
            let context = Unmanaged.passRetained(transfer)
            defer { context.release() }
            var headerList: UnsafeMutablePointer<curl_slist>?
            defer { curl_slist_free_all(headerList) }
            for header in request.headers {
                headerList = curl_slist_append(headerList, "\(header.name): \(header.value)")
            }
            // An empty `Expect:` stops libcurl from waiting a second for `100 Continue`.
            headerList = curl_slist_append(headerList, "Expect:")

            vigil_curl_set_string(easy, CURLOPT_URL, request.url)
            vigil_curl_set_string(easy, CURLOPT_USERAGENT, Self.userAgent)
            vigil_curl_set_long(easy, CURLOPT_NOSIGNAL, 1)
            vigil_curl_set_long(easy, CURLOPT_TIMEOUT_MS, request.timeout.milliseconds(atLeast: 1))
            vigil_curl_set_long(easy, CURLOPT_CONNECTTIMEOUT_MS, min(request.timeout.milliseconds(atLeast: 1), 10_000))
            vigil_curl_set_long(easy, CURLOPT_TCP_KEEPALIVE, 1)
            vigil_curl_set_pointer(easy, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(headerList))
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
            let code = curl_easy_perform(easy)
            guard code == CURLE_OK else {
                let message = String(cString: curl_easy_strerror(code))
                return .failure(HTTPClientError(code: Int(code.rawValue), message: message, url: Redaction.url(request.url)))
            }
            var status = 0
            vigil_curl_get_long(easy, CURLINFO_RESPONSE_CODE, &status)
            return .success(HTTPResponse(status: status, headers: transfer.headers, body: transfer.body))
        }
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
