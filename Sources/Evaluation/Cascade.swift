import Foundation

/// One model's answers to a multiple-choice task, item by item: what a cascade needs to decide.
public struct ChoiceAnswers: Sendable, Codable, Equatable {
    /// Whether the model's pick (largest log-likelihood, `acc`) is the gold choice.
    public var correct: [Bool]
    /// The model's probability of its own pick among the choices: the softmax of the choices'
    /// log-likelihoods, at its largest. The cascade's confidence signal.
    public var confidence: [Double]
    /// Seconds the model spent on each item on this host (measured).
    public var seconds: [Double]
    /// Tokens the model ran per item (the context once, then each choice).
    public var tokens: [Int]

    public init(correct: [Bool], confidence: [Double], seconds: [Double], tokens: [Int]) {
        self.correct = correct; self.confidence = confidence; self.seconds = seconds; self.tokens = tokens
    }

    public var accuracy: Double { correct.isEmpty ? 0 : Double(correct.filter { $0 }.count) / Double(correct.count) }
    public var totalSeconds: Double { seconds.reduce(0, +) }

    /// The softmax of log-likelihoods, at its largest.
    public static func confidence(_ logLikelihoods: [Double]) -> Double {
        guard let top = logLikelihoods.max() else { return 0 }
        return 1 / logLikelihoods.reduce(0) { $0 + exp($1 - top) }
    }
}

/// A confidence cascade on a task: the student answers every item; where its confidence is
/// below the threshold the item is escalated to the teacher, whose answer counts instead.
/// Cost is compute time on this host (the student's on every item, the teacher's on the
/// escalated ones), so that a price per hour turns it into dollars.
public struct CascadeRow: Sendable, Codable, Equatable {
    public var threshold: Double
    public var escalated: Int
    public var escalationRate: Double
    public var accuracy: Double
    /// Cascade accuracy − teacher accuracy, with a paired-bootstrap 95% interval.
    public var againstTeacher: DifferenceInterval
    public var seconds: Double
    /// Cost ÷ the teacher's alone.
    public var costFraction: Double
}

public enum CascadeAnalysis {
    /// The thresholds tried: 0 (never escalate) to 1 (always) in steps of 0.05, plus the
    /// student's confidences at every tenth percentile (where its items actually fall).
    public static func thresholds(_ student: ChoiceAnswers) -> [Double] {
        let grid = (0...20).map { Double($0) / 20 }
        let sorted = student.confidence.sorted()
        let percentiles = sorted.isEmpty ? [] : (1...9).map { sorted[min(sorted.count - 1, sorted.count * $0 / 10)] }
        return Array(Set(grid + percentiles)).sorted()
    }

    public static func rows(student: ChoiceAnswers, teacher: ChoiceAnswers, thresholds: [Double]) -> [CascadeRow] {
        let n = student.correct.count
        precondition(teacher.correct.count == n, "student and teacher answered different item counts")
        let teacherSeconds = teacher.totalSeconds
        return thresholds.map { threshold in
            var correct: [Bool] = [], seconds = student.totalSeconds, escalated = 0
            for i in 0..<n {
                if student.confidence[i] < threshold {
                    escalated += 1
                    seconds += teacher.seconds[i]
                    correct.append(teacher.correct[i])
                } else {
                    correct.append(student.correct[i])
                }
            }
            let accuracy = n > 0 ? Double(correct.filter { $0 }.count) / Double(n) : 0
            return CascadeRow(threshold: threshold, escalated: escalated, escalationRate: n > 0 ? Double(escalated) / Double(n) : 0,
                              accuracy: accuracy,
                              againstTeacher: PairedBootstrap.accuracyDifference(model: correct, base: teacher.correct),
                              seconds: seconds, costFraction: teacherSeconds > 0 ? seconds / teacherSeconds : 0)
        }
    }

    /// The cheapest row whose accuracy is within `points` (0.02: 2 points) of the teacher's, if
    /// it costs less than the teacher alone; nil when no threshold does that.
    public static func choose(_ rows: [CascadeRow], teacherAccuracy: Double, within points: Double = 0.02) -> CascadeRow? {
        rows.filter { $0.accuracy >= teacherAccuracy - points - 1e-12 && $0.costFraction < 1 }
            .min { ($0.seconds, -$0.accuracy) < ($1.seconds, -$1.accuracy) }
    }
}
