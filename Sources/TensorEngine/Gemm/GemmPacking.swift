// Packing for the blocked GEMM, and the per-thread packing workspace.
//
// A block (mc x kc of op(A)) is stored as ceil(mc/MR) micro-panels; micro-panel r
// holds kc steps of MR consecutive values op(A)[i0 + 0..<MR][p], rows past mc zero.
// B block (kc x nc of op(B)) is stored as ceil(nc/NR) micro-panels of kc rows of NR
// values op(B)[p][j0 + 0..<NR], columns past nc zero. Transposition is resolved
// here, so the micro-kernel sees one layout for all four transA/transB cases.

#if canImport(Glibc)
import Glibc
#endif

/// Packs op(A)[i0..<i0+mc][p0..<p0+kc] into MR-row micro-panels at dst.
func gemmPackA(transA: Bool, a: UnsafePointer<Float>, lda: Int, i0: Int, p0: Int,
               mc: Int, kc: Int, dst: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) {
    let mr = gemmMR
    var d = dst
    var i = 0
    while i < mc {
        let rows = min(mr, mc - i)
        if transA {
            // op(A)[i][p] = a[p * lda + i]: MR contiguous values per k step.
            var src = a + p0 * lda + i0 + i
            if rows == mr {
                for _ in 0..<kc {
                    UnsafeMutableRawPointer(d).storeBytes(
                        of: UnsafeRawPointer(src).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
                    d += mr; src += lda
                }
            } else {
                for _ in 0..<kc {
                    for r in 0..<rows { d[r] = src[r] }
                    for r in rows..<mr { d[r] = 0 }
                    d += mr; src += lda
                }
            }
        } else {
            // op(A)[i][p] = a[i * lda + p]: read each row contiguously; full panels
            // go 16 k steps at a time through an in-register 8 x 16 transpose.
            var p = 0
            if rows == mr {
                let src = a + (i0 + i) * lda + p0
                while p + 16 <= kc {
                    let v = scratch.assumingMemoryBound(to: SIMD16<Float>.self)
                    for r in 0..<mr { v[r] = gemmLoad(src + r * lda + p) }
                    gemmTransposeRounds(v, count: mr, out: d + p * mr)
                    p += 16
                }
            }
            let pDone = p
            for r in 0..<rows {
                let src = a + (i0 + i + r) * lda + p0
                for p in pDone..<kc { d[p * mr + r] = src[p] }
            }
            if rows < mr {
                for p in 0..<kc { for r in rows..<mr { d[p * mr + r] = 0 } }
            }
            d += kc * mr
        }
        i += mr
    }
}

/// Packs op(B)[p0..<p0+kc][j0..<j0+nc] into NR-column micro-panels at dst.
func gemmPackB(transB: Bool, b: UnsafePointer<Float>, ldb: Int, p0: Int, j0: Int,
               kc: Int, nc: Int, dst: UnsafeMutablePointer<Float>, scratch: UnsafeMutableRawPointer) {
    let nr = gemmNR
    var d = dst
    var j = 0
    while j < nc {
        let cols = min(nr, nc - j)
        if !transB {
            // op(B)[p][j] = b[p * ldb + j]: NR contiguous values per k step.
            var src = b + p0 * ldb + j0 + j
            if cols == nr {
                for _ in 0..<kc {
                    gemmStore(gemmLoad(src), d); gemmStore(gemmLoad(src + 16), d + 16)
                    d += nr; src += ldb
                }
            } else {
                for _ in 0..<kc {
                    for c in 0..<cols { d[c] = src[c] }
                    for c in cols..<nr { d[c] = 0 }
                    d += nr; src += ldb
                }
            }
        } else {
            // op(B)[p][j] = b[j * ldb + p]: a transpose; go 16 k steps at a time so
            // each source row is read contiguously and writes stay in a few lines.
            var p = 0
            if cols == nr {
                while p + 16 <= kc {
                    let v = scratch.assumingMemoryBound(to: SIMD16<Float>.self)
                    let src = b + (j0 + j) * ldb + p0 + p
                    for c in 0..<nr { v[c] = gemmLoad(src + c * ldb) }
                    gemmTransposeRounds(v, count: nr, out: d + p * nr)
                    p += 16
                }
            }
            while p < kc {
                let steps = min(16, kc - p)
                for c in 0..<cols {
                    let src = b + (j0 + j + c) * ldb + p0 + p
                    for s in 0..<steps { d[(p + s) * nr + c] = src[s] }
                }
                if cols < nr {
                    for s in 0..<steps { for c in cols..<nr { d[(p + s) * nr + c] = 0 } }
                }
                p += steps
            }
            d += kc * nr
        }
        j += nr
    }
}

/// Transposes `count` rows of 16 (count = 8 or 32) held at v into 16 rows of
/// `count`, written contiguously at out. Each round is a perfect shuffle (row 2i's
/// and 2i+1's even lanes to row i, odd lanes to row i + count/2), which rotates
/// the element address right by one bit; four rounds move the 4 column bits
/// above the row bits, i.e. transpose. v (2 * count vectors) is clobbered.
@inline(__always)
func gemmTransposeRounds(_ v: UnsafeMutablePointer<SIMD16<Float>>, count: Int,
                         out: UnsafeMutablePointer<Float>) {
    let half = count / 2
    var src = v, dst = v + count
    for round in 0..<4 {
        let target = round == 3 ? UnsafeMutableRawPointer(out).assumingMemoryBound(to: SIMD16<Float>.self) : dst
        for i in 0..<half {
            let x = src[2 * i], y = src[2 * i + 1]
            let lo = SIMD16<Float>(lowHalf: x.evenHalf, highHalf: y.evenHalf)
            let hi = SIMD16<Float>(lowHalf: x.oddHalf, highHalf: y.oddHalf)
            UnsafeMutableRawPointer(target + i).storeBytes(of: lo, as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(target + i + half).storeBytes(of: hi, as: SIMD16<Float>.self)
        }
        swap(&src, &dst)
    }
}

/// Floats of scratch the packing routines need (two sets of 32 SIMD16 vectors).
let gemmPackScratchFloats = 2 * 32 * 16

// MARK: - Per-thread workspace

/// Header of one thread's packing buffer (64-byte aligned, grown on demand, freed at thread exit).
struct GemmWorkspaceHeader {
    var buffer: UnsafeMutablePointer<Float>?
    var capacity: Int
}

private func gemmWorkspaceDestroy(_ raw: UnsafeMutableRawPointer?) {
    guard let raw else { return }
    let h = raw.assumingMemoryBound(to: GemmWorkspaceHeader.self)
    free(h.pointee.buffer)
    free(raw)
}

private final class GemmWorkspaceKey: @unchecked Sendable {
    var key = pthread_key_t()
    init() {
        let rc = pthread_key_create(&key, { gemmWorkspaceDestroy($0) })
        precondition(rc == 0, "gemm: pthread_key_create failed with \(rc)")
    }
}

private let gemmWorkspaceKey = GemmWorkspaceKey()

/// The calling thread's packing buffer with room for at least `floats` floats.
/// Allocates only the first time or when a larger buffer is needed.
func gemmWorkspace(floats: Int) -> UnsafeMutablePointer<Float> {
    let key = gemmWorkspaceKey.key
    var h: UnsafeMutablePointer<GemmWorkspaceHeader>
    if let raw = pthread_getspecific(key) {
        h = raw.assumingMemoryBound(to: GemmWorkspaceHeader.self)
    } else {
        guard let raw = malloc(MemoryLayout<GemmWorkspaceHeader>.stride) else {
            fatalError("gemm: cannot allocate workspace header")
        }
        h = raw.bindMemory(to: GemmWorkspaceHeader.self, capacity: 1)
        h.initialize(to: GemmWorkspaceHeader(buffer: nil, capacity: 0))
        pthread_setspecific(key, h)
    }
    if h.pointee.capacity < floats {
        free(h.pointee.buffer)
        var raw: UnsafeMutableRawPointer?
        let rc = posix_memalign(&raw, 64, floats * MemoryLayout<Float>.stride)
        precondition(rc == 0 && raw != nil, "gemm: cannot allocate \(floats) floats of workspace")
        h.pointee.buffer = raw!.bindMemory(to: Float.self, capacity: floats)
        h.pointee.capacity = floats
    }
    return h.pointee.buffer!
}
