// A scheduler's request to stop (preemption): SIGTERM or SIGUSR1 sets a flag, the
// training loop asks at the end of each step whether any rank has it, and if so every
// rank stops after that same step. Rank 0 then writes a checkpoint and every rank exits
// with `Preempted.status` (75, EX_TEMPFAIL: "try again later"), so a batch script can
// tell "preempted, requeue me" from success (0) and failure (1, 2, or a signal).
//
// Why both signals: SLURM (and most schedulers) send SIGTERM to every task of a job
// step some seconds before SIGKILL (KillWait, 30 s by default), which reaches ranks
// started with `srun` directly. mpirun, however, treats its own SIGTERM as "kill the
// job" (the ranks get SIGTERM and, 1 s later, SIGKILL: odls_base_sigkill_timeout),
// and forwards SIGUSR1/SIGUSR2 to the ranks untouched. So under mpirun the notice is
// SIGUSR1 (`sbatch --signal=B:USR1@60` and a trap in the batch script, see
// Cluster/slurm-train.sbatch).
//
// Why an agreement: the signal reaches ranks at slightly different times, possibly
// in different steps. One 8-byte all-reduce (max) per step makes every rank stop at the
// first step boundary at which any rank had seen it, so all ranks leave the loop after
// the same step and no collective is left half-issued.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The signal number received (0: none). Written only by the handler, read by the loop.
nonisolated(unsafe) private var receivedStopSignal: sig_atomic_t = 0

private let stopSignalHandler: @convention(c) (Int32) -> Void = { signal in
    receivedStopSignal = sig_atomic_t(signal)
}

public enum StopSignal {
    /// The signals that request a stop.
    public static let signals: [Int32] = [SIGTERM, SIGUSR1]

    /// Installs the handlers (idempotent). SA_RESTART so that a signal arriving during
    /// a read, write or poll (checkpoint files, MPI's TCP progress) does not fail it.
    public static func install() {
        _ = receivedStopSignal   // initialise the global before any handler can run
        for s in signals {
            var action = sigaction()
            #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = stopSignalHandler
            #else
            action.__sigaction_u.__sa_handler = stopSignalHandler
            #endif
            action.sa_flags = Int32(SA_RESTART)
            sigemptyset(&action.sa_mask)
            sigaction(s, &action, nil)
        }
    }

    /// The stop signal this process received, if any.
    public static var received: Int32? {
        let s = receivedStopSignal
        return s == 0 ? nil : Int32(s)
    }

    /// Collective: true on every rank when any rank has received a stop signal. Call it
    /// at the same point of every step on every rank (one all-reduce of one Int64; none
    /// on a single rank).
    public static func agreed(_ comm: Communicator) throws -> Bool {
        let mine: Int64 = receivedStopSignal == 0 ? 0 : 1
        if comm.size == 1 { return mine != 0 }
        return try comm.allReduce(mine, op: .max) != 0
    }

    /// The name of a signal number, for messages.
    public static func name(_ s: Int32) -> String {
        switch s {
        case SIGTERM: return "SIGTERM"
        case SIGUSR1: return "SIGUSR1"
        default: return "signal \(s)"
        }
    }

    /// For tests: behave as if `signal` had arrived (0 clears).
    public static func simulate(_ signal: Int32) {
        receivedStopSignal = sig_atomic_t(signal)
    }
}

/// Thrown by the training loop after a stop was agreed and the checkpoint written.
public struct Preempted: Error, ExitStatusError, CustomStringConvertible {
    /// The documented exit status of a preempted run: EX_TEMPFAIL (sysexits.h).
    public static let status: Int32 = 75
    public let step: Int
    public let checkpoint: String?
    public let signal: Int32?

    public init(step: Int, checkpoint: String?, signal: Int32?) {
        self.step = step
        self.checkpoint = checkpoint
        self.signal = signal
    }

    public var exitStatus: Int32 { Preempted.status }

    public var description: String {
        let why = signal.map { "\(StopSignal.name($0)) received" } ?? "another rank received a stop signal"
        let saved = checkpoint.map { ", checkpoint \($0) written" } ?? ", no run folder: nothing saved"
        return "stopped after global step \(step) (\(why))\(saved); exit status \(Preempted.status), continue with --resume auto"
    }
}
