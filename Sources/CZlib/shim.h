// Shim for Debian's zlib (package zlib1g-dev) as the Swift module CZlib.
//
// inflateInit2 and deflateInit2 are function-like macros that Swift cannot import,
// so the two initialisers the project needs are wrapped here as inline functions.
#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H

#include <zlib.h>

/// Starts inflating gzip data (the gzip header and trailer are checked): windowBits 16 + MAX_WBITS.
static inline int czlib_inflate_init_gzip(z_streamp stream) {
    return inflateInit2(stream, 16 + MAX_WBITS);
}

/// Starts deflating into gzip format (gzip header and CRC-32 trailer): windowBits 16 + MAX_WBITS.
static inline int czlib_deflate_init_gzip(z_streamp stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
}

#endif
