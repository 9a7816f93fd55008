import Foundation

/// A confidence cascade's accuracy against its cost (`swiftlet eval cascade --json`, the part
/// `swiftlet report --cascade` reads): each threshold's point, the student and the teacher alone.
public struct CascadeChart: Codable, Sendable, Equatable {
    public struct Point: Codable, Sendable, Equatable {
        public var threshold: Double
        public var accuracy: Double
        /// Cost ÷ the teacher's alone.
        public var costFraction: Double
        public var escalationRate: Double

        public init(threshold: Double, accuracy: Double, costFraction: Double, escalationRate: Double) {
            self.threshold = threshold; self.accuracy = accuracy; self.costFraction = costFraction; self.escalationRate = escalationRate
        }
    }

    public var caption: String
    public var studentAccuracy: Double
    public var teacherAccuracy: Double
    public var studentCostFraction: Double
    public var points: [Point]
    public var chosenThreshold: Double?
    public var withinPoints: Double

    public init(caption: String, studentAccuracy: Double, teacherAccuracy: Double, studentCostFraction: Double, points: [Point],
                chosenThreshold: Double?, withinPoints: Double) {
        self.caption = caption; self.studentAccuracy = studentAccuracy; self.teacherAccuracy = teacherAccuracy
        self.studentCostFraction = studentCostFraction; self.points = points; self.chosenThreshold = chosenThreshold; self.withinPoints = withinPoints
    }

    /// Accuracy (%) against cost ÷ teacher, thresholds in order, with the teacher's accuracy less
    /// the allowed points as a dashed line and the chosen threshold marked.
    public func svg() -> String {
        let ordered = points.sorted { $0.costFraction < $1.costFraction }
        let ys = ordered.map { 100 * $0.accuracy } + [100 * studentAccuracy, 100 * teacherAccuracy]
        let low = max(0, (ys.min() ?? 0) - 5), high = min(100, (ys.max() ?? 100) + 5)
        let xHigh = max(1.05, (ordered.map(\.costFraction).max() ?? 1) * 1.05)
        var c = SVGChart(title: "Confidence cascade: accuracy against cost", xLabel: "cost ÷ the teacher's alone", yLabel: "accuracy, %",
                         x: 0...xHigh, y: low...high)
        c.line(ordered.map { ($0.costFraction, 100 * $0.accuracy) }, colour: HTMLReport.palette[0], label: "cascade, by threshold", markers: true)
        c.line([(0, 100 * teacherAccuracy - withinPoints), (xHigh, 100 * teacherAccuracy - withinPoints)], colour: "#999",
               label: "teacher − \(String(format: "%g", withinPoints)) points", dashed: true)
        c.point(studentCostFraction, 100 * studentAccuracy, colour: HTMLReport.palette[1], note: "student alone")
        c.point(1, 100 * teacherAccuracy, colour: HTMLReport.palette[3], note: "teacher alone")
        if let t = chosenThreshold, let p = points.first(where: { $0.threshold == t }) {
            c.point(p.costFraction, 100 * p.accuracy, colour: HTMLReport.palette[2],
                    note: String(format: "chosen: %.2f, %.0f%% escalated", t, 100 * p.escalationRate))
        }
        return c.svg()
    }
}
