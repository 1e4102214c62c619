import VigilTracing

/// The envelope every OTLP export request shares: one `Resource{Spans,Metrics}` holding the
/// resource and one `Scope{Spans,Metrics}`, which holds the scope and the items. Trace and metric
/// requests differ only in the items and in the JSON keys.
enum OTLPEnvelope {
    /// `Export*ServiceRequest.resource_* = 1` → `resource = 1` (→ `Resource.attributes = 1`) and
    /// `scope_* = 2` → `scope = 1` (→ `InstrumentationScope.name = 1`, `version = 2`); `items`
    /// writes field 2 of the scope message (`spans`, `metrics`).
    static func protobuf(capacity: Int, resource: TelemetryResource, scope: InstrumentationScope,
                         items: (inout ProtobufWriter) -> Void) -> [UInt8] {
        var w = ProtobufWriter(capacity: capacity)
        w.message(1) { w in
            w.message(1) { w in
                for attribute in resource.attributes { w.message(1) { OTLPProtobuf.keyValue(&$0, attribute) } }
            }
            w.message(2) { w in
                w.message(1) { w in
                    w.string(1, scope.name)
                    w.string(2, scope.version)
                }
                items(&w)
            }
        }
        return w.bytes
    }

    /// `{"resource<Kind>":[{"resource":{…},"scope<Kind>":[{"scope":{…},"<items>":…}]}]}` on one
    /// line, where `kind` is `Spans` or `Metrics` and `items` writes the value of `itemsKey`.
    static func json(kind: String, itemsKey: String, resource: TelemetryResource, scope: InstrumentationScope,
                     items: (inout JSONWriter) -> Void) -> [UInt8] {
        var out = JSONWriter()
        out.raw("{\"resource\(kind)\":[{\"resource\":{\"attributes\":")
        out.attributes(resource.attributes)
        out.raw("},\"scope\(kind)\":[{\"scope\":{\"name\":")
        out.string(scope.name)
        out.raw(",\"version\":")
        out.string(scope.version)
        out.raw("},\"\(itemsKey)\":")
        items(&out)
        out.raw("}]}]}")
        return out.bytes
    }
}
