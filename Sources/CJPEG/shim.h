#ifndef GDQR_CJPEG_SHIM_H
#define GDQR_CJPEG_SHIM_H
// JPEG decoding through libjpeg(-turbo), whole in C. libjpeg's default error handler
// prints and calls exit(); this one formats the message and longjmps back to
// gdqr_jpeg_decode (never across Swift frames). Warnings ("premature end of data",
// "corrupt JPEG data") make libjpeg go on with invented pixels; they are recorded and
// turn the decode into an error, as PIL refuses a truncated JPEG.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int warnings;
    char message[JMSG_LENGTH_MAX];
} gdqr_jpeg_error;

static inline void gdqr_jpeg_error_exit(j_common_ptr cinfo) {
    gdqr_jpeg_error *e = (gdqr_jpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->message);
    longjmp(e->jump, 1);
}

static inline void gdqr_jpeg_emit_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;   // trace messages
    gdqr_jpeg_error *e = (gdqr_jpeg_error *)cinfo->err;
    if (e->warnings == 0) (*cinfo->err->format_message)(cinfo, e->message);
    e->warnings++;
}

static inline void gdqr_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

/// Decodes the JPEG in data[0..<size] to 8-bit grey (channels 1, grey JPEGs) or RGB
/// (channels 3, YCbCr and RGB JPEGs), rows top to bottom, interleaved, with libjpeg's
/// defaults (islow DCT, fancy upsampling) as PIL. CMYK / YCCK are refused. Returns 0
/// with *out malloc'd (free with gdqr_jpeg_free), or -1 with a message in err.
static inline int gdqr_jpeg_decode(const unsigned char *data, size_t size, unsigned long max_pixels,
                                   unsigned char **out, int *width, int *height, int *channels,
                                   char *err, size_t err_size) {
    struct jpeg_decompress_struct cinfo;
    gdqr_jpeg_error jerr;
    unsigned char *volatile pixels = NULL;
    *out = NULL;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&jerr, 0, sizeof jerr);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = gdqr_jpeg_error_exit;
    jerr.pub.emit_message = gdqr_jpeg_emit_message;
    jerr.pub.output_message = gdqr_jpeg_output_message;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        snprintf(err, err_size, "%s", jerr.message[0] ? jerr.message : "libjpeg failed without a message");
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    if (size == 0) {
        snprintf(jerr.message, sizeof jerr.message, "empty file");
        longjmp(jerr.jump, 1);
    }
    jpeg_mem_src(&cinfo, (unsigned char *)data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_YCbCr:
    case JCS_RGB: cinfo.out_color_space = JCS_RGB; break;
    default:
        snprintf(jerr.message, sizeof jerr.message, "unsupported JPEG colour space %d (CMYK or YCCK)",
                 (int)cinfo.jpeg_color_space);
        longjmp(jerr.jump, 1);
    }
    if ((unsigned long long)cinfo.image_width * cinfo.image_height > (unsigned long long)max_pixels) {
        snprintf(jerr.message, sizeof jerr.message, "image of %u x %u pixels exceeds the limit of %lu pixels",
                 (unsigned)cinfo.image_width, (unsigned)cinfo.image_height, max_pixels);
        longjmp(jerr.jump, 1);
    }
    jpeg_start_decompress(&cinfo);
    int ch = cinfo.output_components;
    size_t stride = (size_t)cinfo.output_width * ch;
    pixels = (unsigned char *)malloc(stride * cinfo.output_height);
    if (pixels == NULL) {
        snprintf(jerr.message, sizeof jerr.message, "out of memory for %u x %u pixels",
                 (unsigned)cinfo.output_width, (unsigned)cinfo.output_height);
        longjmp(jerr.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)cinfo.output_scanline * stride;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    *width = (int)cinfo.output_width;
    *height = (int)cinfo.output_height;
    *channels = ch;
    jpeg_destroy_decompress(&cinfo);
    if (jerr.warnings > 0) {
        free(pixels);
        snprintf(err, err_size, "corrupt JPEG data: %s", jerr.message);
        return -1;
    }
    *out = pixels;
    return 0;
}

static inline void gdqr_jpeg_free(unsigned char *p) { free(p); }
#endif
