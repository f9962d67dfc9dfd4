#include "build_info.h"
const char *gdqr_build_target_cpu(void) { return GDQR_TARGET_CPU; }
