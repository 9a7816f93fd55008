@testable import Engine
import Testing

/// The adaptive draft length, from calibrated pass times alone (no model).
@Suite struct DraftLengthPolicyTests {
    /// Pass times in milliseconds: a plain step, target passes over 2…9 tokens, a draft step.
    static func times(plain: Double, perExtraToken: Double, draft: Double) -> PassTimes {
        var target: [Int: Double] = [1: plain / 1000]
        for n in 2...9 { target[n] = (plain + Double(n - 1) * perExtraToken) / 1000 }
        return PassTimes(target: target, draft: draft / 1000)
    }

    /// Zen 4 with the interleaved kernels (BENCHMARKS.md, "Speculative decoding"): a check of 4
    /// tokens costs 1.45 plain steps, a draft step 0.35. The first round explores with 3 drafts.
    @Test func checksCheaperThanStepsAreTried() {
        var policy = DraftLengthPolicy(maxTokens: 8, adaptive: true, draftCostsPasses: true,
                                       calibration: Self.times(plain: 28, perExtraToken: 4.2, draft: 9.7))
        #expect(policy.canPay(8, plain: 0.028))
        #expect(policy.next(limit: 100) == 3)
    }

    /// A build whose kernels are compute-bound at one row: each checked token costs a plain step,
    /// so no draft length can pay even if every draft is kept. Nothing is drafted, not even the
    /// exploring round, for a draft model or for prompt lookup (free drafts).
    @Test func checksThatCostAsMuchAsStepsAreNeverTried() {
        for costs in [true, false] {
            var policy = DraftLengthPolicy(maxTokens: 8, adaptive: true, draftCostsPasses: costs,
                                           calibration: Self.times(plain: 200, perExtraToken: 200, draft: 70))
            #expect(!policy.canPay(8, plain: 0.2))
            #expect((0..<40).map { _ in policy.next(limit: 100) }.allSatisfy { $0 == 0 })
        }
        // Near the end of a generation the cap is small, but the ceiling is judged on the full
        // length: a 1-token cap does not stop a policy that can pay.
        var policy = DraftLengthPolicy(maxTokens: 8, adaptive: true, draftCostsPasses: true,
                                       calibration: Self.times(plain: 28, perExtraToken: 4.2, draft: 9.7))
        #expect(policy.next(limit: 1) == 1)
        #expect(policy.next(limit: 100) > 0)
    }
}
