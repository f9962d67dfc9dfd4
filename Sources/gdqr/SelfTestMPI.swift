import ArgumentParser
import Distributed

/// Exercises every collective of the communicator across the ranks of the job
/// (used by Tests/scripts/mpi-selftest.sh); `--fail-rank R` makes rank R fail on
/// purpose to check that the whole job ends instead of hanging.
struct SelfTestMPI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "selftest-mpi", abstract: "Check MPI collectives across the job's ranks.",
        shouldDisplay: false)

    @Option(name: .customLong("fail-rank"), help: "Rank that fails deliberately.")
    var failRank: Int?

    func run() throws {
        let comm = try CommunicatorFactory.make()
        runOrAbort(comm) {
            if let failRank { try communicatorFailureTest(comm, failingRank: failRank) }
            let summary = try communicatorSelfTest(comm)
            if comm.rank == 0 { print(summary) }
        }
        try comm.finalize()
    }
}
