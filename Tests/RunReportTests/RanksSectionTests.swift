import XCTest
@testable import RunReport

/// The per-rank section against hand-computed means: three ranks over three logging
/// windows, rank 2 the slow one, one window with a null (NaN) wait, one record of
/// another length and one with a string in a list (both left out), and the note
/// when no record has the lists.
final class RanksSectionTests: XCTestCase {
    static let metrics = """
    {"split":"train","phase":"fp32","step":2,"loss":2.0,"compute_ms_per_step_by_rank":[10,12,30],"comm_wait_ms_per_step_by_rank":[22,20,2]}
    {"split":"train","phase":"fp32","step":4,"loss":1.9,"compute_ms_per_step_by_rank":[14,10,26],"comm_wait_ms_per_step_by_rank":[14,18,null]}
    {"split":"test","phase":"fp32","step":4,"accuracy":0.5}
    {"split":"train","phase":"fp32","step":6,"loss":1.8,"compute_ms_per_step_by_rank":[12,14,10],"comm_wait_ms_per_step_by_rank":[4,2,6]}
    {"split":"train","phase":"fp32","step":8,"loss":1.7,"compute_ms_per_step_by_rank":[50,50],"comm_wait_ms_per_step_by_rank":[1,1]}
    {"split":"train","phase":"fp32","step":10,"loss":1.6,"compute_ms_per_step_by_rank":[1,"x",3],"comm_wait_ms_per_step_by_rank":[1,1,1]}
    """

    /// The trainer writes a non-finite value as null; it reads back as NaN.
    func records() throws -> [MetricsRecord] { try RunData.parseMetrics(Self.metrics, file: "m.jsonl") }

    func testMeansSlowestRankAndLeftOutRecords() throws {
        let r = try records()
        XCTAssertEqual(r[0].lists[RankTimes.computeKey], [10, 12, 30])
        XCTAssertTrue(r[1].lists[RankTimes.waitKey]![2].isNaN)
        XCTAssertNil(r[5].lists[RankTimes.computeKey])       // a string in the list: not a number list
        let t = try XCTUnwrap(RankTimes(r))
        XCTAssertEqual(t.windows, 3)                         // the 2-rank record is left out
        XCTAssertEqual(t.compute, [12, 12, 22])              // (10+14+12)/3, (12+10+14)/3, (30+26+10)/3
        XCTAssertEqual(t.wait, [40.0 / 3, 40.0 / 3, 4])      // rank 2: (2+6)/2, its NaN left out
        XCTAssertEqual(t.slowestIn, [0, 1, 2])               // windows 1, 2: rank 2; window 3: rank 1
        let s = try XCTUnwrap(t.slowest)
        XCTAssertEqual(s.rank, 2)
        XCTAssertEqual(s.excess, 22.0 / 12 - 1, accuracy: 1e-12)
    }

    func testSectionMarksTheSlowestRank() throws {
        var run = RunData(directory: "/tmp/x", name: "x", configText: nil, metrics: try records(), summary: nil,
                          quantization: nil, parity: nil, pictures: [])
        run.ood = []
        let html = ReportSections.ranks(run)
        XCTAssertTrue(html.contains("<tr class=\"slowest-rank\" data-rank=\"2\"><td>2</td><td>22</td><td>4</td>"), html)
        XCTAssertTrue(html.contains("Rank 2 computes longest: 83% more than the median of the others."))
        XCTAssertTrue(html.contains("<td>2 of 3</td>"))
        XCTAssertTrue(html.contains("id=\"chart-rank-compute\""))
        XCTAssertEqual(html.components(separatedBy: "data-rank=").count - 1, 3)
    }

    func testNoListsGiveTheNote() throws {
        let r = try RunData.parseMetrics("{\"split\":\"train\",\"step\":1,\"loss\":1}", file: "m.jsonl")
        XCTAssertNil(RankTimes(r))
        let run = RunData(directory: "/tmp/x", name: "x", configText: nil, metrics: r, summary: nil,
                          quantization: nil, parity: nil, pictures: [])
        XCTAssertTrue(ReportSections.ranks(run).contains("No per-rank timing in metrics.jsonl"))
    }
}
