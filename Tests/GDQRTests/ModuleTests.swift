import XCTest
import GDQR
final class GDQRModuleTests: XCTestCase { func testLinks() {} }
