import Foundation
import Testing

@testable import Cost
import Sampling

/// The sweep chart printed q8_0 and q4_1 over each other when their figures matched: notes are
/// now placed so that no two boxes intersect, whatever the points.
@Suite struct ChartLabelTests {
    @Test func coincidentPointsGetSeparateLabels() {
        var c = SVGChart(title: "t", xLabel: "x", yLabel: "y", x: 0...10, y: 0...10)
        for name in ["q8_0, acc 60.0%", "q4_1, acc 60.0%", "source, exact", "source, auto", "q4_0"] { c.point(5, 5, colour: "#000", note: name) }
        c.point(5.1, 5.05, colour: "#000", note: "near")
        c.point(9.9, 9.9, colour: "#000", note: "a long label at the top right corner")
        let svg = c.svg()
        let boxes = c.noteBoxes
        #expect(boxes.count == 7)
        for i in boxes.indices { for j in boxes.indices where j > i { #expect(!boxes[i].intersects(boxes[j]), "\(boxes[i]) and \(boxes[j])") } }
        // Inside the picture.
        #expect(boxes.allSatisfy { $0.x >= 0 && $0.x + $0.width <= c.width && $0.y >= 0 && $0.y + $0.height <= c.height })
        #expect(svg.contains("q4_1, acc 60.0%") && svg.contains("q8_0, acc 60.0%"))
    }

    @Test func seededRandomPointsNeverOverlap() {
        var rng = SplitMix64(seed: 7)
        func unit() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
        var c = SVGChart(title: "t", xLabel: "x", yLabel: "y", x: 0...1, y: 0...1)
        for i in 0..<12 { c.point(unit(), unit(), colour: "#000", note: "type \(i)") }
        _ = c.svg()
        let boxes = c.noteBoxes
        for i in boxes.indices { for j in boxes.indices where j > i { #expect(!boxes[i].intersects(boxes[j])) } }
    }
}
