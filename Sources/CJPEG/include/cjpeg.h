// A small C layer over libjpeg-turbo (Debian package libjpeg62-turbo-dev).
//
// libjpeg reports errors through error_exit, whose default calls exit(); recovering needs
// setjmp/longjmp, which Swift cannot use, so decoding and encoding are done here and report
// failure as a return value plus a message.
#ifndef CJPEG_H
#define CJPEG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Decodes a JPEG held in memory.
///
/// On success returns 0 and sets *pixels to a malloc'd buffer of width * height * channels
/// bytes, rows top to bottom, samples interleaved: channels is 1 for grayscale JPEGs and 3
/// (R, G, B) for every other colour space libjpeg can convert to RGB. Free it with cjpeg_free.
/// On failure returns -1, sets *pixels to NULL and writes a NUL-terminated message of at most
/// errorCapacity bytes into error (when error is non-NULL and errorCapacity > 0).
/// Truncated data (premature end of file or data segment) is a failure, not a grey-filled image.
/// Images of more than 2^28 pixels are refused.
int cjpeg_decode(const unsigned char *data, size_t size, unsigned char **pixels, int *width,
                 int *height, int *channels, char *error, size_t errorCapacity);

/// Encodes width * height interleaved RGB pixels (rows top to bottom) as a baseline JPEG
/// with the given quality (1...100). On success returns 0 and sets *out to a malloc'd buffer
/// of *outSize bytes (free it with cjpeg_free); on failure returns -1 and writes a message.
int cjpeg_encode_rgb(const unsigned char *rgb, int width, int height, int quality,
                     unsigned char **out, size_t *outSize, char *error, size_t errorCapacity);

/// Like cjpeg_encode_rgb, for 1 (grayscale) or 3 (RGB) interleaved channels.
int cjpeg_encode(const unsigned char *pixels, int width, int height, int channels, int quality,
                 unsigned char **out, size_t *outSize, char *error, size_t errorCapacity);

/// Frees a buffer returned by cjpeg_decode or cjpeg_encode(_rgb). NULL is allowed.
void cjpeg_free(void *buffer);

#ifdef __cplusplus
}
#endif

#endif
