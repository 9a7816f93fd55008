import LLMBase

// Quant blocks with GGUF's exact byte layout (ggml-common.h). 32 weights per block; `d` is the scale
// and `m` the minimum, both IEEE half floats stored as raw bits. The layouts are pinned by a test
// (size == stride == GGUF's block bytes), so a view over mapped file bytes reads them in place.
//
//   Q8_0  (34 bytes): | d:f16 | qs: 32 × i8                 |   x[i] = d·qs[i]
//   Q4_0  (18 bytes): | d:f16 | qs: 16 × u8 (two nibbles)    |   x[j] = d·(lo(qs[j]) − 8), x[j+16] = d·(hi(qs[j]) − 8)
//   Q4_1  (20 bytes): | d:f16 | m:f16 | qs: 16 × u8          |   x[j] = d·lo(qs[j]) + m,   x[j+16] = d·hi(qs[j]) + m
//   Q5_0  (22 bytes): | d:f16 | qh: 4 × u8 | qs: 16 × u8      |   Q4_0 with a fifth bit from qh, offset 16
//   Q5_1  (24 bytes): | d:f16 | m:f16 | qh: 4 × u8 | qs: 16   |   Q4_1 with a fifth bit from qh
//
// K-quants: super-blocks of 256 weights in sub-blocks of 32 (Q4_K, Q5_K) or 16 (Q2_K, Q3_K, Q6_K),
// each sub-block with its own small integer scale (and minimum) under the super-block's halves:
//
//   Q2_K  (84 bytes):  | scales: 16 × (4-bit scale, 4-bit min) | qs: 64 (2-bit) | d:f16 | dmin:f16 |
//   Q3_K  (110 bytes): | hmask: 32 | qs: 64 (2-bit) | scales: 12 (16 × 6-bit) | d:f16 |
//   Q4_K  (144 bytes): | d:f16 | dmin:f16 | scales: 12 (8 × 6-bit scale, 8 × 6-bit min) | qs: 128 |
//   Q5_K  (176 bytes): | d:f16 | dmin:f16 | scales: 12 | qh: 32 | qs: 128 |
//   Q6_K  (210 bytes): | ql: 128 | qh: 64 | scales: 16 × i8 | d:f16 |

public typealias Bytes16 = (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                            UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
public typealias Int8x32 = (Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8,
                            Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8,
                            Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8,
                            Int8, Int8, Int8, Int8, Int8, Int8, Int8, Int8)

public struct BlockQ8_0 {
    public var d: UInt16
    public var qs: Int8x32
}

public struct BlockQ4_0 {
    public var d: UInt16
    public var qs: Bytes16
}

public struct BlockQ4_1 {
    public var d: UInt16
    public var m: UInt16
    public var qs: Bytes16
}

public typealias Bytes4 = (UInt8, UInt8, UInt8, UInt8)
public typealias Bytes12 = (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)
public typealias Bytes32 = (Bytes16, Bytes16)
public typealias Bytes64 = (Bytes32, Bytes32)
public typealias Bytes128 = (Bytes64, Bytes64)

public struct BlockQ5_0 {
    public var d: UInt16
    public var qh: Bytes4
    public var qs: Bytes16
}

public struct BlockQ5_1 {
    public var d: UInt16
    public var m: UInt16
    public var qh: Bytes4
    public var qs: Bytes16
}

public struct BlockQ2_K {
    public var scales: Bytes16
    public var qs: Bytes64
    public var d: UInt16
    public var dmin: UInt16
}

public struct BlockQ3_K {
    public var hmask: Bytes32
    public var qs: Bytes64
    public var scales: Bytes12
    public var d: UInt16
}

public struct BlockQ4_K {
    public var d: UInt16
    public var dmin: UInt16
    public var scales: Bytes12
    public var qs: Bytes128
}

public struct BlockQ5_K {
    public var d: UInt16
    public var dmin: UInt16
    public var scales: Bytes12
    public var qh: Bytes32
    public var qs: Bytes128
}

public struct BlockQ6_K {
    public var ql: Bytes128
    public var qh: Bytes64
    public var scales: Bytes16
    public var d: UInt16
}
