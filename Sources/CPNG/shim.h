#ifndef GDQR_CPNG_SHIM_H
#define GDQR_CPNG_SHIM_H
// PNG decoding through libpng's low-level API, whole in C: libpng reports errors by
// longjmp, which must never cross Swift frames, so the setjmp, every libpng call and
// the cleanup live in this one function. The output follows what PIL's
// Image.convert("L" / "RGB") keeps: palette expanded, alpha and tRNS dropped (not
// composited), 1/2/4-bit grey widened, 16-bit reduced to 8 (libpng's strip: the high
// byte); no gamma or colour-profile correction. With palette_indices set, a palette
// image gives its indices instead (1 channel, 1/2/4-bit indices widened to bytes): the
// class ids of a Pascal VOC mask, as PIL's mode "P" keeps them.
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t pos;
    char message[256];
} gdqr_png_state;

static inline void gdqr_png_read_fn(png_structp png, png_bytep out, size_t n) {
    gdqr_png_state *s = (gdqr_png_state *)png_get_io_ptr(png);
    if (n > s->size - s->pos) png_error(png, "truncated file (the data ends before the image does)");
    memcpy(out, s->data + s->pos, n);
    s->pos += n;
}

static inline void gdqr_png_error_fn(png_structp png, png_const_charp msg) {
    gdqr_png_state *s = (gdqr_png_state *)png_get_error_ptr(png);
    if (s->message[0] == 0) snprintf(s->message, sizeof s->message, "%s", msg);
    png_longjmp(png, 1);
}

// Warnings (unknown chunks, odd colour profiles, CRC errors of ancillary chunks) do not
// change the pixels; they are not printed.
static inline void gdqr_png_warning_fn(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

/// Decodes the PNG in data[0..<size] to 8-bit grey (channels 1) or RGB (channels 3)
/// (palette images: their indices, channels 1, when palette_indices is nonzero),
/// rows top to bottom, interleaved. Returns 0 with *out malloc'd (free with
/// gdqr_png_free), or -1 with a message in err (never exits, never prints).
/// Images of more than max_pixels pixels are refused before any allocation.
static inline int gdqr_png_decode(const unsigned char *data, size_t size, unsigned long max_pixels, int palette_indices,
                                  unsigned char **out, int *width, int *height, int *channels,
                                  char *err, size_t err_size) {
    *out = NULL;
    if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        snprintf(err, err_size, "not a PNG file (bad signature)");
        return -1;
    }
    gdqr_png_state state;
    memset(&state, 0, sizeof state);
    state.data = data;
    state.size = size;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, gdqr_png_error_fn, gdqr_png_warning_fn);
    if (png == NULL) {
        snprintf(err, err_size, "libpng could not allocate its decoder");
        return -1;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(err, err_size, "libpng could not allocate its decoder");
        return -1;
    }
    // Written after setjmp and read after a longjmp: volatile.
    unsigned char *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        snprintf(err, err_size, "%s", state.message[0] ? state.message : "libpng failed without a message");
        return -1;
    }
    png_set_read_fn(png, &state, gdqr_png_read_fn);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if ((unsigned long long)w * h > (unsigned long long)max_pixels) {
        snprintf(state.message, sizeof state.message, "image of %u x %u pixels exceeds the limit of %lu pixels",
                 (unsigned)w, (unsigned)h, max_pixels);
        png_longjmp(png, 1);
    }
    int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    if (depth == 16) png_set_strip_16(png);
    if (color == PNG_COLOR_TYPE_PALETTE && palette_indices) {
        if (depth < 8) png_set_packing(png);
    } else if (color == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(png);
    }
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int ch = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if ((ch != 1 && ch != 3) || png_get_bit_depth(png, info) != 8 || rowbytes != (size_t)w * ch) {
        snprintf(state.message, sizeof state.message, "unsupported PNG layout (colour type %d, bit depth %d)", color, depth);
        png_longjmp(png, 1);
    }
    pixels = (unsigned char *)malloc(rowbytes * h);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * h);
    if (pixels == NULL || rows == NULL) {
        snprintf(state.message, sizeof state.message, "out of memory for %u x %u pixels", (unsigned)w, (unsigned)h);
        png_longjmp(png, 1);
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = pixels + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    *out = pixels;
    *width = (int)w;
    *height = (int)h;
    *channels = ch;
    return 0;
}

static inline void gdqr_png_free(unsigned char *p) { free(p); }
#endif
