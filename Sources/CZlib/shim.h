#ifndef GDQR_CZLIB_SHIM_H
#define GDQR_CZLIB_SHIM_H
#include <zlib.h>
// inflateInit2 is a macro over inflateInit2_ with the library version and stream size.
static inline int gdqr_inflate_init2(z_streamp strm, int windowBits) {
    return inflateInit2(strm, windowBits);
}
#endif
