// deflateInit2 and inflateInit2 are macros, which Swift cannot call.
#include <zlib.h>

/// Starts a deflate stream that writes the gzip format (RFC 1952): window bits 15 + 16.
static inline int vigil_deflate_init_gzip(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
/// Starts an inflate stream that reads gzip only: window bits 15 + 16.
static inline int vigil_inflate_init_gzip(z_stream *stream) {
    return inflateInit2(stream, 15 + 16);
}
