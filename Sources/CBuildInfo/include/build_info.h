#ifndef GDQR_BUILD_INFO_H
#define GDQR_BUILD_INFO_H
// The CPU the Swift kernels were compiled for (GDQR_TARGET_CPU at build time).
const char *gdqr_build_target_cpu(void);
#endif
