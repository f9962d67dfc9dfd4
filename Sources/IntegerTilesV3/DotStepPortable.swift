// The dot-product step of this module's register tile (IntegerRegisterTile.swift):
// the exact portable arithmetic of IntegerSIMD, for layers whose operands are too
// large for the AVX2 pair-product tile (IntegerTileAVX2.swift).
import IntegerSIMD

@inline(__always)
func dotStep(_ acc: SIMD16<Int32>, _ a: SIMD16<Int32>, _ w: SIMD16<Int32>) -> SIMD16<Int32> {
    dotProductAccumulatePortable(acc, a, w)
}
