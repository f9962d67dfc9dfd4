// Concatenation of two NCHW tensors along channels and its backward (split).
// a [n, ca, h, w] and b [n, cb, h, w] -> out [n, ca + cb, h, w]. Pure copies,
// so results never depend on the thread count.

/// out[:, 0..<ca] = a, out[:, ca..<ca+cb] = b.
public func concatChannelsForward(_ a: UnsafePointer<Float>, channelsA ca: Int,
                                  _ b: UnsafePointer<Float>, channelsB cb: Int,
                                  output: UnsafeMutablePointer<Float>,
                                  n: Int, h: Int, w: Int, pool: ThreadPool? = nil) {
    let hw = h * w, c = ca + cb
    opsFor(pool, items: n, elementsPerItem: c * hw) { rows in
        for i in rows {
            (output + i * c * hw).update(from: a + i * ca * hw, count: ca * hw)
            (output + (i * c + ca) * hw).update(from: b + i * cb * hw, count: cb * hw)
        }
    }
}

/// Splits gradOutput [n, ca + cb, h, w] into gradA [n, ca, h, w] and gradB [n, cb, h, w]
/// (both overwritten; either may be nil to skip it).
public func concatChannelsBackward(gradOutput: UnsafePointer<Float>,
                                   gradA: UnsafeMutablePointer<Float>?, channelsA ca: Int,
                                   gradB: UnsafeMutablePointer<Float>?, channelsB cb: Int,
                                   n: Int, h: Int, w: Int, pool: ThreadPool? = nil) {
    let hw = h * w, c = ca + cb
    opsFor(pool, items: n, elementsPerItem: c * hw) { rows in
        for i in rows {
            if let ga = gradA { (ga + i * ca * hw).update(from: gradOutput + i * c * hw, count: ca * hw) }
            if let gb = gradB { (gb + i * cb * hw).update(from: gradOutput + (i * c + ca) * hw, count: cb * hw) }
        }
    }
}
