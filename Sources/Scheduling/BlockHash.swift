/// A KV block is an index into the block pool's arrays, not an object (vLLM `block_pool.py`).
public typealias BlockID = Int
/// A request's id, chosen by the caller.
public typealias SequenceID = Int

/// The chained hash of one full KV block: it mixes the hash of the block before it (or a fixed seed
/// for a sequence's first block) with the block's token ids, so equal hashes name equal prefixes,
/// not just equal blocks (vLLM `hash_block_tokens`).
///
/// The mixing is written here, not taken from Swift's `Hasher`, which is seeded randomly per process:
/// hashes must be reproducible across runs and processes. A 64-bit hash can collide, so the pool
/// never trusts it alone; it compares tokens and the parent before it reports a hit.
public struct BlockHash: Hashable, Sendable, CustomStringConvertible {
    public let value: UInt64

    public init(_ value: UInt64) { self.value = value }

    /// The hash of a block holding `tokens`, whose preceding block hashed to `parent`
    /// (`nil` for the first block of a sequence).
    public init(parent: BlockHash?, tokens: ArraySlice<Int>) {
        var state = parent?.value ?? BlockHash.seed
        // The count goes in first so blocks of different sizes never alias by construction.
        state = BlockHash.mix(state ^ UInt64(truncatingIfNeeded: tokens.count))
        for token in tokens {
            state = BlockHash.mix((state &+ BlockHash.golden) ^ UInt64(truncatingIfNeeded: token))
        }
        self.value = state
    }

    public var description: String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// "SWIFTLET" in ASCII: the parent of every sequence's first block.
    static let seed: UInt64 = 0x5357_4946_544C_4554
    /// 2^64 / φ, SplitMix64's increment: keeps consecutive equal tokens from cancelling.
    static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// SplitMix64's finaliser (Stafford's Mix13): every input bit flips about half the output bits.
    static func mix(_ input: UInt64) -> UInt64 {
        var z = input
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// How the KV cache manager hashes a block; replaceable in tests to force collisions.
package typealias BlockHashFunction = (_ parent: BlockHash?, _ tokens: ArraySlice<Int>) -> BlockHash
