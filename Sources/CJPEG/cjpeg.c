// See include/cjpeg.h.
//
// Every piece of state that must survive a longjmp (the libjpeg structs, the output buffers)
// lives in a context struct owned by the caller of the function that calls setjmp, so none of
// it is a non-volatile local of the setjmp frame (whose value C leaves indeterminate).
#include "cjpeg.h"

#include <limits.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#define CJPEG_MAX_PIXELS ((size_t)1 << 28)

struct cjpeg_error_manager {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char *message;
    size_t capacity;
};

static void cjpeg_set_message(char *message, size_t capacity, const char *text) {
    if (message == NULL || capacity == 0) return;
    snprintf(message, capacity, "%s", text);
}

static void cjpeg_error_exit(j_common_ptr cinfo) {
    struct cjpeg_error_manager *manager = (struct cjpeg_error_manager *)cinfo->err;
    char buffer[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buffer);
    cjpeg_set_message(manager->message, manager->capacity, buffer);
    longjmp(manager->jump, 1);
}

// Warnings (msg_level -1) that mean the data ended early are failures; other warnings
// (for example extraneous bytes before a marker) are ignored, as are trace messages.
static void cjpeg_emit_message(j_common_ptr cinfo, int msg_level) {
    if (msg_level == -1) {
        int code = cinfo->err->msg_code;
        if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER) {
            cjpeg_error_exit(cinfo);
        }
        cinfo->err->num_warnings++;
    }
}

static void cjpeg_output_message(j_common_ptr cinfo) {
    (void)cinfo;
}

static void cjpeg_install_error_manager(struct cjpeg_error_manager *manager, char *error,
                                        size_t errorCapacity) {
    jpeg_std_error(&manager->pub);
    manager->pub.error_exit = cjpeg_error_exit;
    manager->pub.emit_message = cjpeg_emit_message;
    manager->pub.output_message = cjpeg_output_message;
    manager->message = error;
    manager->capacity = errorCapacity;
}

// MARK: - Decoding

struct cjpeg_decode_context {
    struct jpeg_decompress_struct cinfo;
    struct cjpeg_error_manager error;
    int created;
    unsigned char *buffer;
    int width, height, channels;
};

static int cjpeg_decode_run(struct cjpeg_decode_context *context, const unsigned char *data,
                            size_t size) {
    if (setjmp(context->error.jump)) {
        return -1;
    }
    jpeg_create_decompress(&context->cinfo);
    context->created = 1;
    jpeg_mem_src(&context->cinfo, data, (unsigned long)size);
    jpeg_read_header(&context->cinfo, TRUE);
    context->cinfo.out_color_space =
        context->cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_calc_output_dimensions(&context->cinfo);
    size_t width = context->cinfo.output_width;
    size_t height = context->cinfo.output_height;
    size_t channels = (size_t)context->cinfo.output_components;
    if (width == 0 || height == 0 || (channels != 1 && channels != 3)) {
        cjpeg_set_message(context->error.message, context->error.capacity,
                          "JPEG has an empty size or an unsupported channel count");
        return -1;
    }
    if (width > CJPEG_MAX_PIXELS / height) {
        cjpeg_set_message(context->error.message, context->error.capacity,
                          "JPEG is larger than 2^28 pixels");
        return -1;
    }
    context->buffer = (unsigned char *)malloc(width * height * channels);
    if (context->buffer == NULL) {
        cjpeg_set_message(context->error.message, context->error.capacity,
                          "out of memory for JPEG pixels");
        return -1;
    }
    jpeg_start_decompress(&context->cinfo);
    size_t stride = width * channels;
    while (context->cinfo.output_scanline < context->cinfo.output_height) {
        JSAMPROW row = context->buffer + (size_t)context->cinfo.output_scanline * stride;
        if (jpeg_read_scanlines(&context->cinfo, &row, 1) != 1) {
            cjpeg_set_message(context->error.message, context->error.capacity,
                              "JPEG data ended before the last scanline");
            return -1;
        }
    }
    jpeg_finish_decompress(&context->cinfo);
    context->width = (int)width;
    context->height = (int)height;
    context->channels = (int)channels;
    return 0;
}

int cjpeg_decode(const unsigned char *data, size_t size, unsigned char **pixels, int *width,
                 int *height, int *channels, char *error, size_t errorCapacity) {
    if (pixels == NULL || width == NULL || height == NULL || channels == NULL) {
        cjpeg_set_message(error, errorCapacity, "cjpeg_decode: NULL output argument");
        return -1;
    }
    *pixels = NULL;
    *width = 0;
    *height = 0;
    *channels = 0;
    if (data == NULL || size == 0) {
        cjpeg_set_message(error, errorCapacity, "empty JPEG data");
        return -1;
    }
    if (size > ULONG_MAX) {
        cjpeg_set_message(error, errorCapacity, "JPEG data too large");
        return -1;
    }
    cjpeg_set_message(error, errorCapacity, "");
    struct cjpeg_decode_context context;
    memset(&context, 0, sizeof context);
    cjpeg_install_error_manager(&context.error, error, errorCapacity);
    context.cinfo.err = &context.error.pub;
    int status = cjpeg_decode_run(&context, data, size);
    if (context.created) {
        jpeg_destroy_decompress(&context.cinfo);
    }
    if (status != 0) {
        free(context.buffer);
        return -1;
    }
    *pixels = context.buffer;
    *width = context.width;
    *height = context.height;
    *channels = context.channels;
    return 0;
}

// MARK: - Encoding

// A growable memory destination owned by the context (rather than jpeg_mem_dest, whose
// intermediate buffers cannot be freed by the caller after an error).
struct cjpeg_memory_destination {
    struct jpeg_destination_mgr pub;
    unsigned char *buffer;
    size_t capacity;
    size_t size;
};

static void cjpeg_destination_init(j_compress_ptr cinfo) {
    struct cjpeg_memory_destination *destination = (struct cjpeg_memory_destination *)cinfo->dest;
    destination->pub.next_output_byte = destination->buffer;
    destination->pub.free_in_buffer = destination->capacity;
}

static boolean cjpeg_destination_empty(j_compress_ptr cinfo) {
    struct cjpeg_memory_destination *destination = (struct cjpeg_memory_destination *)cinfo->dest;
    size_t used = destination->capacity;
    if (destination->capacity > SIZE_MAX / 2) {
        ERREXIT(cinfo, JERR_OUT_OF_MEMORY);
    }
    size_t capacity = destination->capacity * 2;
    unsigned char *grown = (unsigned char *)realloc(destination->buffer, capacity);
    if (grown == NULL) {
        ERREXIT(cinfo, JERR_OUT_OF_MEMORY);
    }
    destination->buffer = grown;
    destination->capacity = capacity;
    destination->pub.next_output_byte = grown + used;
    destination->pub.free_in_buffer = capacity - used;
    return TRUE;
}

static void cjpeg_destination_term(j_compress_ptr cinfo) {
    struct cjpeg_memory_destination *destination = (struct cjpeg_memory_destination *)cinfo->dest;
    destination->size = destination->capacity - destination->pub.free_in_buffer;
}

struct cjpeg_encode_context {
    struct jpeg_compress_struct cinfo;
    struct cjpeg_error_manager error;
    struct cjpeg_memory_destination destination;
    int created;
};

static int cjpeg_encode_run(struct cjpeg_encode_context *context, const unsigned char *pixels,
                            int width, int height, int channels, int quality) {
    if (setjmp(context->error.jump)) {
        return -1;
    }
    jpeg_create_compress(&context->cinfo);
    context->created = 1;
    context->cinfo.dest = &context->destination.pub;
    context->cinfo.image_width = (JDIMENSION)width;
    context->cinfo.image_height = (JDIMENSION)height;
    context->cinfo.input_components = channels;
    context->cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&context->cinfo);
    jpeg_set_quality(&context->cinfo, quality, TRUE);
    jpeg_start_compress(&context->cinfo, TRUE);
    size_t stride = (size_t)width * (size_t)channels;
    while (context->cinfo.next_scanline < context->cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)context->cinfo.next_scanline * stride);
        jpeg_write_scanlines(&context->cinfo, &row, 1);
    }
    jpeg_finish_compress(&context->cinfo);
    return 0;
}

int cjpeg_encode(const unsigned char *pixels, int width, int height, int channels, int quality,
                 unsigned char **out, size_t *outSize, char *error, size_t errorCapacity) {
    if (out == NULL || outSize == NULL) {
        cjpeg_set_message(error, errorCapacity, "cjpeg_encode: NULL output argument");
        return -1;
    }
    *out = NULL;
    *outSize = 0;
    if (pixels == NULL) {
        cjpeg_set_message(error, errorCapacity, "cjpeg_encode: NULL pixels");
        return -1;
    }
    if (width <= 0 || height <= 0 || width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION) {
        cjpeg_set_message(error, errorCapacity, "cjpeg_encode: width and height must be 1...65500");
        return -1;
    }
    if (channels != 1 && channels != 3) {
        cjpeg_set_message(error, errorCapacity, "cjpeg_encode: channels must be 1 or 3");
        return -1;
    }
    if (quality < 1 || quality > 100) {
        cjpeg_set_message(error, errorCapacity, "cjpeg_encode: quality must be 1...100");
        return -1;
    }
    cjpeg_set_message(error, errorCapacity, "");
    struct cjpeg_encode_context context;
    memset(&context, 0, sizeof context);
    cjpeg_install_error_manager(&context.error, error, errorCapacity);
    context.cinfo.err = &context.error.pub;
    context.destination.capacity = 4096;
    context.destination.buffer = (unsigned char *)malloc(context.destination.capacity);
    if (context.destination.buffer == NULL) {
        cjpeg_set_message(error, errorCapacity, "out of memory for JPEG output");
        return -1;
    }
    context.destination.pub.init_destination = cjpeg_destination_init;
    context.destination.pub.empty_output_buffer = cjpeg_destination_empty;
    context.destination.pub.term_destination = cjpeg_destination_term;
    int status = cjpeg_encode_run(&context, pixels, width, height, channels, quality);
    if (context.created) {
        jpeg_destroy_compress(&context.cinfo);
    }
    if (status != 0) {
        free(context.destination.buffer);
        return -1;
    }
    *out = context.destination.buffer;
    *outSize = context.destination.size;
    return 0;
}

int cjpeg_encode_rgb(const unsigned char *rgb, int width, int height, int quality,
                     unsigned char **out, size_t *outSize, char *error, size_t errorCapacity) {
    return cjpeg_encode(rgb, width, height, 3, quality, out, outSize, error, errorCapacity);
}

void cjpeg_free(void *buffer) {
    free(buffer);
}
