import Foundation
import Testing

@testable import Cost

/// Distillation payback against the seeds' worked example, computed by hand.
@Suite struct DistillationTests {
    @Test func seedExampleToTheDollar() {
        // 30M tokens/day × 30.4167 days = 912.5M tokens/month; $18,000 for them; a student at a
        // fifth of the rate: $3,600; saving $14,400; $9,000 repaid in 9,000 / 14,400 = 0.625
        // months = 19.01 days, under three weeks.
        let perMonth = 30e6 * DistillationEconomics.daysPerMonth
        #expect(abs(perMonth - 912_500_000) < 1e-3)
        let e = DistillationEconomics(tokensPerMonth: perMonth, teacherMonthly: 18_000, studentMonthly: 18_000 * 0.2, oneTimeCost: 9_000)
        #expect(abs(e.studentMonthly - 3_600) < 1e-9)
        #expect(abs(e.monthlySaving - 14_400) < 1e-9)
        #expect(abs(e.paybackMonths! - 0.625) < 1e-12)
        #expect(abs(e.paybackDays! - 0.625 * 730 / 24) < 1e-9 && e.paybackDays! < 21)
        #expect(abs(e.teacherPerMillion - 18_000 / 912.5) < 1e-9)
        #expect(abs(e.netSaving(afterMonths: 12) - (14_400 * 12 - 9_000)) < 1e-6)
    }

    @Test func fixedCostsLengthenPaybackAndNoSavingNeverPaysBack() {
        let e = DistillationEconomics(tokensPerMonth: 1e9, teacherMonthly: 10_000, studentMonthly: 2_000, studentFixedMonthly: 4_000, oneTimeCost: 8_000)
        #expect(e.monthlySaving == 4_000 && e.paybackMonths == 2)
        let none = DistillationEconomics(tokensPerMonth: 1e9, teacherMonthly: 1_000, studentMonthly: 900, studentFixedMonthly: 200, oneTimeCost: 5_000)
        #expect(none.monthlySaving < 0 && none.paybackMonths == nil && none.paybackDays == nil)
    }
}
