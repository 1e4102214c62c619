"""An OTLP/HTTP receiver for Vigil's tests: decodes every POST /v1/traces and /v1/metrics with
opentelemetry-proto (protobuf or JSON, gzip or not) and keeps what it decoded. Requests to any
other path (a Pushgateway's PUT /metrics/job/..., say) are answered from the script too and
recorded without a body, so that it also serves as an outage server for push clients.

usage: otlp_receiver.py [PORT] [--cert FILE --key FILE [--client-ca FILE]]
  prints "listening PORT" once it serves on 127.0.0.1; with --cert and --key it serves HTTPS
  only (control requests included), and with --client-ca it also requires a client certificate
  signed by that CA.
Control (JSON):
  POST /control/script   a list of answers used in turn for the next requests, each
                         {"status": 503, "retry_after": "1", "hang": 0.0, "rejected": 0, "message": ""};
                         after the list runs out, requests get 200.
  GET  /control/received every request, in arrival order: "path", "method", "spans" or
                         "metrics" (one entry per data point), "arrived" and "answering" (the
                         receiver's monotonic clock, in seconds, when the request's headers had
                         been read and just before its answer was written), and "client_subject" (the common name of
                         the client certificate, over HTTPS)
  GET  /control/refused  every TLS handshake that failed: {"reason": "..."}, in order
  GET  /control/clock    {"monotonic": ...}: the clock "arrived" and "answering" are read on
  POST /control/reset    forget requests and script
"""
import argparse
import base64
import gzip
import json
import select
import signal
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

lock = threading.Lock()
received = []
refused = []
script = []


def any_value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind is None:
        return None
    return getattr(v, kind)


def attributes(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


HEX_ID_KEYS = {"traceId", "spanId", "parentSpanId"}


def hex_ids_to_base64(node):
    """OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping expects base64
    for bytes fields (OTLP specification, "JSON Protobuf Encoding"): convert them, as the
    collector does, and refuse ids that are not hex."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in HEX_ID_KEYS and isinstance(value, str):
                node[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            hex_ids_to_base64(item)
    return node


def summarize(request):
    out = []
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                out.append({
                    "resource": attributes(rs.resource.attributes),
                    "scope": {"name": ss.scope.name, "version": ss.scope.version},
                    "trace_id": s.trace_id.hex(),
                    "span_id": s.span_id.hex(),
                    "parent_span_id": s.parent_span_id.hex(),
                    "trace_state": s.trace_state,
                    "name": s.name,
                    "kind": s.kind,
                    "start": s.start_time_unix_nano,
                    "end": s.end_time_unix_nano,
                    "attributes": attributes(s.attributes),
                    "events": [{"name": e.name, "time": e.time_unix_nano, "attributes": attributes(e.attributes)} for e in s.events],
                    "links": [{"trace_id": l.trace_id.hex(), "span_id": l.span_id.hex(), "attributes": attributes(l.attributes)} for l in s.links],
                    "status": {"code": s.status.code, "message": s.status.message},
                    "flags": s.flags,
                    "dropped_attributes": s.dropped_attributes_count,
                })
    return out


def exemplars(points_exemplars):
    return [{"trace_id": e.trace_id.hex(), "span_id": e.span_id.hex(), "value": e.as_double if e.HasField("as_double") else e.as_int,
             "time": e.time_unix_nano, "attributes": attributes(e.filtered_attributes)} for e in points_exemplars]


def summarize_metrics(request):
    """One entry per data point, with its metric's name, unit, type and aggregation."""
    out = []
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                common = {"resource": attributes(rm.resource.attributes), "scope": {"name": sm.scope.name, "version": sm.scope.version},
                          "name": m.name, "description": m.description, "unit": m.unit, "type": kind}
                data = getattr(m, kind)
                if kind in ("sum", "histogram"):
                    common["temporality"] = data.aggregation_temporality
                if kind == "sum":
                    common["monotonic"] = data.is_monotonic
                for p in data.data_points:
                    point = dict(common, attributes=attributes(p.attributes), start=p.start_time_unix_nano, time=p.time_unix_nano,
                                 exemplars=exemplars(p.exemplars))
                    if kind == "histogram":
                        point.update(count=p.count, sum=p.sum, bucket_counts=list(p.bucket_counts), bounds=list(p.explicit_bounds))
                    elif kind in ("sum", "gauge"):
                        point["value"] = p.as_double if p.WhichOneof("value") == "as_double" else p.as_int
                    out.append(point)
    return out


SIGNALS = {
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse, "spans", summarize),
    "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse, "metrics", summarize_metrics),
}


def client_subject(connection):
    """The common name of the client certificate, or None (plain HTTP, or no certificate)."""
    if not isinstance(connection, ssl.SSLSocket):
        return None
    certificate = connection.getpeercert() or {}
    for rdn in certificate.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_GET(self):
        if self.path == "/control/received":
            with lock:
                self.reply(200, json.dumps(received).encode())
        elif self.path == "/control/clock":
            self.reply(200, json.dumps({"monotonic": time.monotonic()}).encode())
        elif self.path == "/control/refused":
            with lock:
                self.reply(200, json.dumps(refused).encode())
        else:
            self.reply(404)

    def do_POST(self):
        global script
        if self.path == "/control/script":
            with lock:
                script = json.loads(self.body())
            return self.reply(200, b"{}")
        if self.path == "/control/reset":
            with lock:
                received.clear()
                refused.clear()
                script = []
            return self.reply(200, b"{}")
        self.export()

    def do_PUT(self):
        self.export()

    def export(self):
        arrived = time.monotonic()
        raw = self.body()
        with lock:
            answer = script.pop(0) if script else {"status": 200}
        entry = {"time": time.time(), "arrived": arrived, "path": self.path, "method": self.command,
                 "gzip": self.headers.get("Content-Encoding") == "gzip",
                 "content_type": self.headers.get("Content-Type"), "user_agent": self.headers.get("User-Agent"),
                 "authorization": self.headers.get("Authorization"), "answered": answer.get("status", 200),
                 "client_subject": client_subject(self.connection)}
        signal_ = SIGNALS.get(self.path)
        if signal_:
            request_type, response_type, key, summary = signal_
            try:
                data = gzip.decompress(raw) if entry["gzip"] else raw
                request = request_type()
                if entry["content_type"] == "application/json":
                    json_format.ParseDict(hex_ids_to_base64(json.loads(data)), request)
                else:
                    request.ParseFromString(data)
                entry[key] = summary(request)
            except Exception as error:  # a malformed export is recorded, and answered 400
                entry["error"] = f"{type(error).__name__}: {error}"
                answer = {"status": 400}
                entry["answered"] = 400
        with lock:
            received.append(entry)
        if answer.get("hang"):
            time.sleep(answer["hang"])
        status = answer.get("status", 200)
        headers = [("Retry-After", answer["retry_after"])] if "retry_after" in answer else []
        with lock:
            # Before the first byte of the answer: the client cannot have read it any earlier.
            entry["answering"] = time.monotonic()
        if status == 200 and signal_:
            response = signal_[1]()
            if answer.get("rejected") or answer.get("message"):
                field = "rejected_spans" if signal_[2] == "spans" else "rejected_data_points"
                setattr(response.partial_success, field, answer.get("rejected", 0))
                response.partial_success.error_message = answer.get("message", "")
            if entry["content_type"] == "application/json":
                return self.reply(200, json_format.MessageToJson(response).encode(), "application/json", headers)
            return self.reply(200, response.SerializeToString(), "application/x-protobuf", headers)
        if status == 200:
            return self.reply(200, b"", "text/plain", headers)
        self.reply(status, b'{"code": 14, "message": "scripted"}', "application/json", headers)


def linger(connection):
    """After a refused handshake, takes in what the client sends next (its request, which it
    writes as soon as its side of the handshake is done) before closing, as a collector whose
    reply is on the way would: the client then reads the TLS alert that says why it was refused
    instead of failing to write to a closed connection. Waits at most 2 seconds."""
    try:
        if select.select([connection], [], [], 2.0)[0]:
            socket.socket.recv(connection, 1 << 16)  # the TCP bytes, past the failed TLS layer
    except OSError:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, on the connection's own thread, so that a client that
        # never completes it holds up nobody else; a failed one is recorded for the test.
        if isinstance(request, ssl.SSLSocket):
            try:
                request.do_handshake()
            except (ssl.SSLError, OSError) as error:
                with lock:
                    refused.append({"reason": getattr(error, "reason", None) or str(error)})
                linger(request)
                return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass  # a client that went away mid-request is the tests' business, not a traceback


arguments = argparse.ArgumentParser(description="An OTLP/HTTP trace receiver for Vigil's tests.")
arguments.add_argument("port", nargs="?", type=int, default=0)
arguments.add_argument("--cert", help="serve HTTPS with this PEM certificate (chain)")
arguments.add_argument("--key", help="the PEM private key of --cert")
arguments.add_argument("--client-ca", help="require a client certificate signed by this PEM CA")
options = arguments.parse_args()
if bool(options.cert) != bool(options.key) or (options.client_ca and not options.cert):
    arguments.error("--cert and --key go together, and --client-ca needs them")

# A parent may hand down a signal mask with SIGTERM and SIGINT blocked (Swift's test runner
# does): unblock them so that the test can stop this server.
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

server = Server(("127.0.0.1", options.port), Handler)
if options.cert:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(options.cert, options.key)
    if options.client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(options.client_ca)
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
print(f"listening {server.server_address[1]}", flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
