// Picks the communicator for this process: MPI when launched by mpirun (or another
// PMIx launcher such as srun --mpi=pmix), the local single-rank communicator otherwise.
// GDQR_COMMUNICATOR=local|mpi overrides the detection.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum CommunicatorFactory {
    /// Environment variables whose presence means "started by an MPI launcher".
    public static let launcherVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK"]

    /// True when this process was started by mpirun / a PMIx launcher.
    public static var launchedByMPI: Bool {
        launcherVariables.contains { getenv($0) != nil }
    }

    public static func make() throws -> Communicator {
        if let forced = getenv("GDQR_COMMUNICATOR").map({ String(cString: $0) }), !forced.isEmpty {
            switch forced {
            case "local": return LocalCommunicator()
            case "mpi": return try MPICommunicator()
            default:
                throw DistributedError.invalidArgument(
                    "GDQR_COMMUNICATOR is \"\(forced)\"; expected \"local\" or \"mpi\"")
            }
        }
        return launchedByMPI ? try MPICommunicator() : LocalCommunicator()
    }
}
