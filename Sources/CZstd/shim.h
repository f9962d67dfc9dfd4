#ifndef GDQR_CZSTD_SHIM_H
#define GDQR_CZSTD_SHIM_H
#include <zstd.h>
// ZSTD_CONTENTSIZE_ERROR / _UNKNOWN are macros of unsigned long long literals.
static inline unsigned long long gdqr_zstd_contentsize_error(void) { return ZSTD_CONTENTSIZE_ERROR; }
static inline unsigned long long gdqr_zstd_contentsize_unknown(void) { return ZSTD_CONTENTSIZE_UNKNOWN; }
#endif
