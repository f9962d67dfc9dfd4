// The integer tests draw their random data from a seeded counter generator, not
// the system's: a failure reproduces on the next run, and a check that a value is
// not vacuous (some levels 0, some above) holds or fails the same way everywhere.
import TensorEngine

extension CounterRNG: RandomNumberGenerator {}

/// A generator for one test: its name picks the stream, so tests draw independently.
func seededGenerator(_ test: String = #function) -> CounterRNG {
    CounterRNG(seed: 20_261_207, stream: UInt64(test.utf8.reduce(0) { ($0 &* 31) &+ UInt32($1) }))
}
