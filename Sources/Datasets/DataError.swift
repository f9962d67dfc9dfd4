// Errors raised while reading or serving data. Every message names the file (or
// the parameter) and says what was expected, so a bad dataset fails loudly and
// points at its cause.

public struct DataError: Error, CustomStringConvertible, Equatable {
    /// The file the error is about, when there is one.
    public let file: String?
    /// The complete human-readable message (already includes the file name).
    public let message: String

    public init(file: String?, _ what: String) {
        self.file = file
        if let file { self.message = "\(file): \(what)" } else { self.message = what }
    }

    /// An error whose message is used verbatim (it names the files itself).
    public init(message: String, file: String? = nil) {
        self.file = file
        self.message = message
    }

    public var description: String { message }
}

extension DataError: CustomDebugStringConvertible {
    public var debugDescription: String { "DataError(\(message))" }
}
