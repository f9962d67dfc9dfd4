// The error of a gdqr tool: a message naming the file, option or value at fault, and
// the exit status the executable gives for it (2: the request itself is wrong, as an
// unknown option value; 1: a file or the data does not fit).

import Foundation
import Distributed

public struct ToolError: ExitStatusError, CustomStringConvertible {
    public let description: String
    public let exitStatus: Int32

    public init(_ message: String) { description = message; exitStatus = 1 }
    /// A request that cannot be carried out as asked (exit status 2, as a bad option).
    public init(usage message: String) { description = message; exitStatus = 2 }
}

/// A file's size in bytes (0 when it cannot be read).
public func fileSize(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
}
