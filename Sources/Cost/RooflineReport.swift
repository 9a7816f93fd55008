import Foundation

/// `swiftlet cost roofline`: the bandwidth model of several models on the instances whose CPU's
/// memory bandwidth the catalogue has, side by side, with no measurement at all.
public enum RooflineReport {
    public struct Model: Sendable {
        public var label: String
        public var file: String
        public var ceilings: [BandwidthCeiling]
        public init(label: String, file: String, ceilings: [BandwidthCeiling]) { self.label = label; self.file = file; self.ceilings = ceilings }
    }

    public static func render(_ models: [Model], format: CostReport.Format) -> String {
        guard let first = models.first?.ceilings else { return "" }
        if format == .json {
            let o: [String: Any] = [
                "modelled": true, "measured": false,
                "context_positions": first.first?.contextTokens ?? 0,
                "models": models.map { m -> [String: Any] in
                    ["model": m.label, "file": m.file, "rows": m.ceilings.map(CostReport.modelledObject)]
                },
                "lead": CostReport.modelledLead, "caveat": BandwidthCeiling.caveat("NAME"),
            ]
            let data = (try? JSONSerialization.data(withJSONObject: o, options: [.prettyPrinted, .sortedKeys])) ?? Data()
            return String(decoding: data, as: UTF8.self) + "\n"
        }
        let md = format == .markdown
        var headers = ["instance", "vCPU", "CPU", "$/h", "GB/s share"]
        for m in models { headers += ["\(m.label) tok/s ≤", "\(m.label) $/1M out ≥"] }
        let rows = first.indices.map { i -> [String] in
            let c = first[i]
            var row = [c.instance.name, "\(c.instance.vcpus)", c.instance.cpu, "\(c.instance.pricePerHour)", CostReport.fixed(c.bandwidthShare / 1e9, 1)]
            for m in models { row += [CostReport.fixed(m.ceilings[i].outputTokensPerSecond, 0), CostReport.money(m.ceilings[i].dollarsPerMillionOutputFloor)] }
            return row
        }
        var out = (md ? "**Modelled, not measured (bandwidth model).** " : "MODELLED, NOT MEASURED (bandwidth model)\n\n")
            + "Single-stream decode is memory-bandwidth bound, so output tokens/s ≤ the instance's share of its socket's memory bandwidth "
            + "(socket GB/s × vCPUs ÷ cores per socket; AWS publishes no per-instance bandwidth, and an instance may get more while its neighbours are idle: "
            + "a share, not a guarantee) ÷ bytes read per output token. \(BandwidthCeiling.caveat("NAME"))\n\n"
        out += CostReport.table(headers, rows, markdown: md, numeric: Set(headers.indices).subtracting([0, 2]))
        out += "\n"
        for m in models {
            guard let c = m.ceilings.first else { continue }
            out += (md ? "- " : "") + "\(m.label) (\(m.file)): \(BandwidthCeiling.mb(c.bytesPerToken)) per output token = weights \(BandwidthCeiling.mb(c.weightBytes)) "
                + "(\(c.weightBasis)) + \(c.kvBasis).\n"
        }
        out += (md ? "- " : "") + "$/1M out ≥ = $/hour ÷ (3600 × ceiling) × 10⁶, busy all the time, On-Demand. Socket bandwidth: "
            + Set(first.map(\.socket.name)).sorted().compactMap { name in
                first.first { $0.socket.name == name }.map { "\($0.socket.name) \(CostReport.fixed($0.socket.bandwidthGBPerSecond, 1)) GB/s per \($0.socket.coresPerSocket)-core socket, \($0.socket.memory) (\($0.socket.source), \($0.socket.date))" }
            }.joined(separator: "; ") + ".\n"
        return out
    }
}
