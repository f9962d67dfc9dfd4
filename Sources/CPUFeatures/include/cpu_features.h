#ifndef GDQR_CPU_FEATURES_H
#define GDQR_CPU_FEATURES_H
// What the running CPU can execute, read from CPUID and XGETBV (never from the
// build host), and which kernel level the process uses.
//
// This file's C is compiled for the baseline x86-64 (no -target-cpu), so a
// constructor in cpu_features.c can run before any Swift code and refuse a CPU
// below x86-64-v3 with exit 1 and a message naming the missing features: the
// Swift modules are compiled for x86-64-v3 and would otherwise die of SIGILL.

// Feature bits of gdqr_cpu_features().
enum {
    GDQR_CPU_AVX = 1 << 0, GDQR_CPU_AVX2 = 1 << 1, GDQR_CPU_FMA = 1 << 2, GDQR_CPU_F16C = 1 << 3,
    GDQR_CPU_BMI1 = 1 << 4, GDQR_CPU_BMI2 = 1 << 5, GDQR_CPU_LZCNT = 1 << 6, GDQR_CPU_MOVBE = 1 << 7,
    GDQR_CPU_OS_YMM = 1 << 8,          // the OS saves ymm state (XCR0 bits 1, 2)
    GDQR_CPU_AVX512F = 1 << 9, GDQR_CPU_AVX512BW = 1 << 10, GDQR_CPU_AVX512CD = 1 << 11,
    GDQR_CPU_AVX512DQ = 1 << 12, GDQR_CPU_AVX512VL = 1 << 13,
    GDQR_CPU_OS_ZMM = 1 << 14,         // the OS saves opmask and zmm state (XCR0 bits 5, 6, 7)
    GDQR_CPU_AVX512VNNI = 1 << 15, GDQR_CPU_AVXVNNI = 1 << 16,
};

// Kernel levels, in the order of preference. V3_VNNI adds AVX-VNNI (VEX-encoded
// VPDPBUSD on ymm: Intel Alder Lake and later client CPUs, which lack AVX-512) and
// V4_VNNI adds AVX512-VNNI, each for the integer engine only.
enum { GDQR_LEVEL_V3 = 3, GDQR_LEVEL_V3_VNNI = 4, GDQR_LEVEL_V4 = 5, GDQR_LEVEL_V4_VNNI = 6 };

unsigned gdqr_cpu_features(void);
// The highest level the CPU supports (0 below x86-64-v3).
int gdqr_cpu_best_level(void);
// The level in use: GDQR_ISA if set (checked at start-up), else the best one.
int gdqr_isa_level(void);
// Forces a level by name ("v3", "v3-vnni", "v4", "v4-vnni", "auto"). Returns 0, or -1 with
// a message in `why` (size bytes) when the name is unknown or the CPU lacks it.
int gdqr_isa_select(const char *name, char *why, int size);
// The level's name ("v3", "v3-vnni", "v4", "v4-vnni").
const char *gdqr_level_name(int level);
// Names of the features the level needs and the CPU lacks, space-separated, in
// `out` (size bytes); empty when it has them all.
void gdqr_missing_features(int level, char *out, int size);
#endif
