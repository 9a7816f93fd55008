import Foundation

/// What one decode step of one sequence reads from memory: the weights, and the cached keys and
/// values of every position it attends to. Recorded by `swiftlet bench -o json` (`model_size`,
/// `weight_bytes_per_token`, `kv_bytes_per_token`), or taken from the model file when `cost`
/// measures live.
public struct ModelFootprint: Sendable, Equatable {
    /// The GGUF's tensor data, bytes (`model_size`).
    public var modelBytes: Double
    /// Weight bytes a decode step reads: the tensor data, less an untied token-embedding table (a
    /// step reads one row of it). Nil: not recorded; the tensor data stands in for it.
    public var weightBytesPerToken: Double?
    /// Cached keys and values of one position over all layers, bytes. Nil: not recorded.
    public var kvBytesPerPosition: Double?

    public init(modelBytes: Double, weightBytesPerToken: Double? = nil, kvBytesPerPosition: Double? = nil) {
        self.modelBytes = modelBytes; self.weightBytesPerToken = weightBytesPerToken; self.kvBytesPerPosition = kvBytesPerPosition
    }

    /// The positions a decode step attends to, on average over a request's output: every prompt
    /// token (cached ones too) and half the output.
    public static func meanDecodeContext(promptTokens: Double, outputTokens: Double) -> Double { promptTokens + outputTokens / 2 }
}

/// The bandwidth model (a roofline's memory side) of one instance, stated as a model, not a
/// measurement. Single-stream decode is memory-bandwidth bound: each output token reads every
/// weight once (a tied embedding/output matrix once, for the logits) and the KV cache of its
/// context, so
///
///     output tokens/s ≤ bandwidth share ÷ bytes per output token
///     bandwidth share = socket GB/s × vCPUs ÷ (cores per socket × threads per core)
///     $ per 1M output tokens ≥ $/hour ÷ (3600 × ceiling) × 10⁶      (100% busy, On-Demand)
///
/// AWS publishes no per-instance bandwidth: a small instance may get more while its neighbours
/// are idle, so the share is a share, not a guarantee. An upper bound on speed and a lower bound
/// on cost; prompt processing and batching are compute-bound and not modelled. Never used for a
/// break-even.
public struct BandwidthCeiling: Sendable {
    public var instance: InstancePrice
    public var socket: CPUSocket
    public var footprint: ModelFootprint
    /// Positions of context each decode step attends to (the KV cache it reads).
    public var contextTokens: Double

    public init(instance: InstancePrice, socket: CPUSocket, footprint: ModelFootprint, contextTokens: Double) {
        self.instance = instance; self.socket = socket; self.footprint = footprint; self.contextTokens = contextTokens
    }

    /// Bytes per second: the instance's vCPUs' share of the socket's peak.
    public var bandwidthShare: Double {
        socket.bandwidthGBPerSecond * 1e9 * Double(instance.vcpus) / Double(socket.coresPerSocket * socket.threadsPerCore)
    }
    public var weightBytes: Double { footprint.weightBytesPerToken ?? footprint.modelBytes }
    /// Nil when the footprint does not record the KV cache's size.
    public var kvBytes: Double? { footprint.kvBytesPerPosition.map { $0 * contextTokens } }
    public var bytesPerToken: Double { weightBytes + (kvBytes ?? 0) }
    /// The modelled single-stream ceiling, output tokens per second.
    public var outputTokensPerSecond: Double { bandwidthShare / bytesPerToken }
    /// The floor on $ per 1M output tokens it implies, busy all the time, On-Demand.
    public var dollarsPerMillionOutputFloor: Double { instance.pricePerHour / (3600 * outputTokensPerSecond) * 1e6 }

    /// Where the weight bytes come from.
    public var weightBasis: String {
        guard let w = footprint.weightBytesPerToken else { return "the GGUF's tensor data (model_size; weights read per token not recorded)" }
        return w < footprint.modelBytes
            ? "the GGUF's tensor data less the untied token-embedding table (a step reads one row of it)"
            : "the GGUF's tensor data: every matrix read once per token, a tied embedding/output matrix once for the logits"
    }

    public var kvBasis: String {
        guard let kv = footprint.kvBytesPerPosition else { return "KV cache not counted (its size per position is not recorded in the bench file)" }
        return "KV cache \(Self.mb(kv * contextTokens)) (\(Self.fixed(contextTokens, 0)) positions × \(Self.fixed(kv / 1e3, 1)) kB)"
    }

    /// The whole statement, for notes and JSON.
    public var basis: String {
        "modelled, not measured: \(instance.name) (\(instance.vcpus) vCPU \(instance.cpu)) gets \(Self.fixed(bandwidthShare / 1e9, 1)) GB/s = "
            + "\(socket.name) \(Self.fixed(socket.bandwidthGBPerSecond, 1)) GB/s per \(socket.coresPerSocket)-core socket (\(socket.memory)) "
            + "× \(instance.vcpus)/\(socket.coresPerSocket * socket.threadsPerCore) vCPUs (AWS publishes no per-instance bandwidth; "
            + "an instance may get more while its neighbours are idle: a share, not a guarantee); "
            + "\(Self.mb(bytesPerToken)) read per output token = weights \(Self.mb(weightBytes)) (\(weightBasis)) + \(kvBasis); "
            + "single-stream ceiling \(Self.fixed(outputTokensPerSecond, 1)) output tokens/s, so at least "
            + "\(CostReport.money(dollarsPerMillionOutputFloor)) per 1M output tokens busy all the time at $\(instance.pricePerHour)/h On-Demand. "
            + Self.caveat(instance.name)
    }

    /// What the model is and is not, with the command that replaces it by a measurement.
    public static func caveat(_ name: String) -> String {
        "Upper bound on speed / lower bound on cost only while the instance gets no more than its bandwidth share; prompt processing and batching are compute-bound and not modelled; "
            + "measure with `swiftlet bench --concurrency 1,4,16 -o json --instance \(name)` on one (and pass it with --bench)."
    }

    static func mb(_ bytes: Double) -> String { "\(fixed(bytes / 1e6, bytes < 1e7 ? 2 : 1)) MB" }
    static func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
}
