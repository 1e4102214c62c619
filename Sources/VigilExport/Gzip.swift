import CZlib

/// gzip (RFC 1952) through zlib, for scrape responses and trace batches.
public enum Gzip {
    /// zlib refused the data or ran out of room; the description says which.
    public struct Error: Swift.Error, CustomStringConvertible, Equatable {
        public var description: String
    }

    /// Compresses `input` into one gzip member. Level 1 is fastest, 9 smallest; 6 is zlib's
    /// default and a good trade for text expositions.
    public static func compress(_ input: [UInt8], level: Int32 = 6) throws(Error) -> [UInt8] {
        var stream = z_stream()
        guard vigil_deflate_init_gzip(&stream, level) == Z_OK else { throw Error(description: "deflateInit2 failed") }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 32)
        let status: Int32 = input.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { target in
                stream.next_in = UnsafeMutablePointer(mutating: source.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(source.count)
                stream.next_out = target.bindMemory(to: Bytef.self).baseAddress
                stream.avail_out = uInt(target.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw Error(description: "deflate did not finish (zlib status \(status))") }
        output.removeSubrange(Int(stream.total_out)...)
        return output
    }

    /// Decompresses gzip data, refusing to produce more than `limit` bytes (a gzip bomb).
    public static func decompress(_ input: [UInt8], limit: Int = 64 << 20) throws(Error) -> [UInt8] {
        var stream = z_stream()
        guard vigil_inflate_init_gzip(&stream) == Z_OK else { throw Error(description: "inflateInit2 failed") }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var status: Int32 = Z_OK
        let failure: Error? = input.withUnsafeBytes { source in
            stream.next_in = UnsafeMutablePointer(mutating: source.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(source.count)
            repeat {
                let produced: Int = chunk.withUnsafeMutableBytes { target in
                    stream.next_out = target.bindMemory(to: Bytef.self).baseAddress
                    stream.avail_out = uInt(target.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return target.count - Int(stream.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END else {
                    return Error(description: "not valid gzip data (zlib status \(status))")
                }
                output.append(contentsOf: chunk[..<produced])
                guard output.count <= limit else { return Error(description: "gzip data expands past \(limit) bytes") }
                if status == Z_OK, produced == 0, stream.avail_in == 0 {
                    return Error(description: "gzip data is truncated")
                }
            } while status != Z_STREAM_END
            return nil
        }
        if let failure { throw failure }
        return output
    }
}
