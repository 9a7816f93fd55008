import Foundation

/// Distillation economics: a team pays for a teacher model per token; a distilled student serves
/// the same traffic at a fraction of that price once a one-time distillation cost is paid. Months
/// are `CostModel.hoursPerMonth` long (730 h = 30.42 days), as cloud bills count them.
///
/// The seeds' worked example: 30M tokens a day on a teacher at about $18,000 a month, a student at
/// one fifth of the rate ($3,600), $14,400 saved a month, and a $9,000 distillation paid back in
/// 0.625 months = 19.0 days.
public struct DistillationEconomics: Sendable, Equatable, Codable {
    public var tokensPerMonth: Double
    /// What the teacher costs for those tokens, per month.
    public var teacherMonthly: Double
    /// What the student costs for the same tokens, per month.
    public var studentMonthly: Double
    /// Monthly costs the student adds beyond its tokens (operations, evaluation, retraining).
    public var studentFixedMonthly: Double
    /// Paid once: data, training runs, evaluation.
    public var oneTimeCost: Double

    public init(tokensPerMonth: Double, teacherMonthly: Double, studentMonthly: Double, studentFixedMonthly: Double = 0, oneTimeCost: Double) {
        self.tokensPerMonth = tokensPerMonth
        self.teacherMonthly = teacherMonthly
        self.studentMonthly = studentMonthly
        self.studentFixedMonthly = studentFixedMonthly
        self.oneTimeCost = oneTimeCost
    }

    public static let daysPerMonth = CostModel.hoursPerMonth / 24

    public var teacherPerMillion: Double { teacherMonthly / tokensPerMonth * 1e6 }
    public var studentPerMillion: Double { studentMonthly / tokensPerMonth * 1e6 }
    /// The teacher's bill minus the student's, fixed costs included.
    public var monthlySaving: Double { teacherMonthly - studentMonthly - studentFixedMonthly }

    /// Months until the saving has repaid the one-time cost; nil when the student saves nothing.
    public var paybackMonths: Double? { monthlySaving > 0 ? oneTimeCost / monthlySaving : nil }
    public var paybackDays: Double? { paybackMonths.map { $0 * Self.daysPerMonth } }

    /// Net dollars after `months`, the one-time cost paid at the start.
    public func netSaving(afterMonths months: Double) -> Double { monthlySaving * months - oneTimeCost }
}
