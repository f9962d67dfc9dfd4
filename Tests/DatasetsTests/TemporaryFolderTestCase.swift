import Foundation
import XCTest

/// A test case with a fresh folder per test (`root`, removed afterwards) and a writer
/// for files below it: the fixture of the tests that read files the test writes.
class TemporaryFolderTestCase: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "gdqr-\(type(of: self))-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: root) }

    /// Writes `bytes` to ROOT/rel, making the folders on the way.
    func write(_ rel: String, _ bytes: [UInt8]) throws {
        let path = root + "/" + rel
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)), path)
    }
}
