// Test seams of the training step: faults that the script tests inject through
// environment variables, read once at start-up. In a run that sets none of them
// (every real run) StepFaults.active is nil and the step calls nothing here.
//   GDQR_FAULT_NAN_AT_STEP=N    a NaN in one gradient at global step N of a phase
//                               (1-based): the checkpoint.nonfinite policy, end to
//                               end (Tests/scripts/nonfinite-test.sh)
//   GDQR_FAULT_STEP_DELAY_MS=N  this process sleeps N ms at the start of every step
//                               (set on one rank only: a straggler for
//                               Tests/scripts/multihost-straggler.sh)

import Foundation
import Layers

struct StepFaults {
    let nanAtStep: Int?
    let delayMS: Int?

    /// The faults the environment asks for, or nil when it asks for none.
    static let active: StepFaults? = {
        let env = ProcessInfo.processInfo.environment
        let f = StepFaults(nanAtStep: env["GDQR_FAULT_NAN_AT_STEP"].flatMap(Int.init),
                           delayMS: env["GDQR_FAULT_STEP_DELAY_MS"].flatMap(Int.init))
        return f.nanAtStep == nil && f.delayMS == nil ? nil : f
    }()

    /// At the start of a step.
    func beforeStep() {
        if let ms = delayMS { usleep(UInt32(ms * 1000)) }
    }

    /// After backward and the phase's gradient hook, before the gradients are
    /// averaged: the NaN goes into the first element of the middle parameter tensor.
    func afterBackward(_ arena: ParameterArena, step: Int) {
        if let f = nanAtStep, step + 1 == f, let e = arena.params.dropFirst(arena.params.count / 2).first {
            arena.grads[e.offset] = .nan
        }
    }
}
