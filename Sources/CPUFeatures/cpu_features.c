#include "cpu_features.h"
#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned read_xcr0(void) {
    unsigned lo, hi;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0)); // xgetbv
    return lo;
}

unsigned gdqr_cpu_features(void) {
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1;
    if ((c >> 28) & 1) f |= GDQR_CPU_AVX;
    if ((c >> 12) & 1) f |= GDQR_CPU_FMA;
    if ((c >> 29) & 1) f |= GDQR_CPU_F16C;
    if ((c >> 22) & 1) f |= GDQR_CPU_MOVBE;
    if (osxsave) {
        unsigned x = read_xcr0();
        if ((x & 0x6) == 0x6) f |= GDQR_CPU_OS_YMM;
        if ((x & 0xe6) == 0xe6) f |= GDQR_CPU_OS_ZMM;
    }
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        if ((b >> 3) & 1) f |= GDQR_CPU_BMI1;
        if ((b >> 5) & 1) f |= GDQR_CPU_AVX2;
        if ((b >> 8) & 1) f |= GDQR_CPU_BMI2;
        if ((b >> 16) & 1) f |= GDQR_CPU_AVX512F;
        if ((b >> 17) & 1) f |= GDQR_CPU_AVX512DQ;
        if ((b >> 28) & 1) f |= GDQR_CPU_AVX512CD;
        if ((b >> 30) & 1) f |= GDQR_CPU_AVX512BW;
        if ((b >> 31) & 1) f |= GDQR_CPU_AVX512VL;
        if ((c >> 11) & 1) f |= GDQR_CPU_AVX512VNNI;
    }
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d) && ((a >> 4) & 1)) f |= GDQR_CPU_AVXVNNI;
    if (__get_cpuid(0x80000001, &a, &b, &c, &d) && ((c >> 5) & 1)) f |= GDQR_CPU_LZCNT;
    return f;
}

static const struct { unsigned bit; const char *name; } feature_names[] = {
    {GDQR_CPU_AVX, "avx"}, {GDQR_CPU_AVX2, "avx2"}, {GDQR_CPU_FMA, "fma"}, {GDQR_CPU_F16C, "f16c"},
    {GDQR_CPU_BMI1, "bmi1"}, {GDQR_CPU_BMI2, "bmi2"}, {GDQR_CPU_LZCNT, "lzcnt"}, {GDQR_CPU_MOVBE, "movbe"},
    {GDQR_CPU_OS_YMM, "os-ymm-state"}, {GDQR_CPU_AVX512F, "avx512f"}, {GDQR_CPU_AVX512BW, "avx512bw"},
    {GDQR_CPU_AVX512CD, "avx512cd"}, {GDQR_CPU_AVX512DQ, "avx512dq"}, {GDQR_CPU_AVX512VL, "avx512vl"},
    {GDQR_CPU_OS_ZMM, "os-zmm-state"}, {GDQR_CPU_AVX512VNNI, "avx512vnni"}, {GDQR_CPU_AVXVNNI, "avxvnni"},
};

static unsigned level_needs(int level) {
    unsigned v3 = GDQR_CPU_AVX | GDQR_CPU_AVX2 | GDQR_CPU_FMA | GDQR_CPU_F16C | GDQR_CPU_BMI1 | GDQR_CPU_BMI2 |
                  GDQR_CPU_LZCNT | GDQR_CPU_MOVBE | GDQR_CPU_OS_YMM;
    unsigned v4 = v3 | GDQR_CPU_AVX512F | GDQR_CPU_AVX512BW | GDQR_CPU_AVX512CD | GDQR_CPU_AVX512DQ |
                  GDQR_CPU_AVX512VL | GDQR_CPU_OS_ZMM;
    switch (level) {
    case GDQR_LEVEL_V3: return v3;
    case GDQR_LEVEL_V3_VNNI: return v3 | GDQR_CPU_AVXVNNI;
    case GDQR_LEVEL_V4: return v4;
    default: return v4 | GDQR_CPU_AVX512VNNI;
    }
}

void gdqr_missing_features(int level, char *out, int size) {
    unsigned lack = level_needs(level) & ~gdqr_cpu_features();
    out[0] = 0;
    for (size_t i = 0; i < sizeof feature_names / sizeof feature_names[0]; i++) {
        if (!(lack & feature_names[i].bit)) continue;
        size_t used = strlen(out);
        snprintf(out + used, (size_t)size - used, "%s%s", used ? " " : "", feature_names[i].name);
    }
}

int gdqr_cpu_best_level(void) {
    unsigned f = gdqr_cpu_features();
    for (int level = GDQR_LEVEL_V4_VNNI; level >= GDQR_LEVEL_V3; level--)
        if ((level_needs(level) & f) == level_needs(level)) return level;
    return 0;
}

const char *gdqr_level_name(int level) {
    switch (level) {
    case GDQR_LEVEL_V3: return "v3";
    case GDQR_LEVEL_V3_VNNI: return "v3-vnni";
    case GDQR_LEVEL_V4: return "v4";
    case GDQR_LEVEL_V4_VNNI: return "v4-vnni";
    default: return "below-v3";
    }
}

// Set once before main (CPUID is slow, and traps to the hypervisor in a VM), read
// by every kernel dispatch.
static int selected_level = 0;

int gdqr_isa_level(void) { return selected_level; }

int gdqr_isa_select(const char *name, char *why, int size) {
    int level;
    if (!strcmp(name, "auto")) { selected_level = gdqr_cpu_best_level(); return 0; }
    else if (!strcmp(name, "v3")) level = GDQR_LEVEL_V3;
    else if (!strcmp(name, "v3-vnni")) level = GDQR_LEVEL_V3_VNNI;
    else if (!strcmp(name, "v4")) level = GDQR_LEVEL_V4;
    else if (!strcmp(name, "v4-vnni")) level = GDQR_LEVEL_V4_VNNI;
    else {
        snprintf(why, (size_t)size, "unknown ISA level '%s' (expected auto, v3, v3-vnni, v4 or v4-vnni)", name);
        return -1;
    }
    char lack[256];
    gdqr_missing_features(level, lack, sizeof lack);
    if (lack[0]) {
        snprintf(why, (size_t)size, "ISA level %s needs CPU features this CPU lacks: %s", name, lack);
        return -1;
    }
    selected_level = level;
    return 0;
}

// Runs before main: every Swift module is compiled for x86-64-v3.
__attribute__((constructor)) static void gdqr_cpu_check(void) {
    char lack[256];
    gdqr_missing_features(GDQR_LEVEL_V3, lack, sizeof lack);
    if (lack[0]) {
        fprintf(stderr, "gdqr: this CPU cannot run gdqr: it needs x86-64-v3 (AVX2, FMA, F16C, BMI1/2, LZCNT, "
                        "MOVBE) and lacks: %s\n", lack);
        exit(1);
    }
    selected_level = gdqr_cpu_best_level();
    const char *isa = getenv("GDQR_ISA");
    if (isa && isa[0]) {
        char why[320];
        if (gdqr_isa_select(isa, why, sizeof why) != 0) {
            fprintf(stderr, "gdqr: GDQR_ISA: %s\n", why);
            exit(1);
        }
    }
}
