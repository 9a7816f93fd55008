import Foundation

/// A cloud instance's On-Demand price, with where the figure comes from.
public struct InstancePrice: Codable, Sendable, Equatable {
    public var name: String
    public var vcpus: Int
    public var memoryGiB: Double
    public var pricePerHour: Double
    /// "arm64" or "x86_64".
    public var architecture: String
    public var cpu: String
    public var region: String
    /// GPUs or other accelerators: Swiftlet's CPU figures say nothing about these instances.
    public var accelerator: String?
    public var source: String
    /// The source's date (YYYY-MM-DD or YYYY-MM), or "undated".
    public var date: String

    public init(name: String, vcpus: Int, memoryGiB: Double, pricePerHour: Double, architecture: String, cpu: String,
                region: String = "us-east-1", accelerator: String? = nil, source: String, date: String) {
        self.name = name; self.vcpus = vcpus; self.memoryGiB = memoryGiB; self.pricePerHour = pricePerHour
        self.architecture = architecture; self.cpu = cpu; self.region = region; self.accelerator = accelerator
        self.source = source; self.date = date
    }

    enum CodingKeys: String, CodingKey {
        case name, vcpus, architecture, cpu, region, accelerator, source, date
        case memoryGiB = "memory_gib", pricePerHour = "price_per_hour"
    }
}

/// A managed model's per-token prices in dollars per million tokens.
public struct ManagedPrice: Codable, Sendable, Equatable {
    public var name: String
    public var displayName: String
    public var provider: String
    public var region: String
    public var inputPerMillion: Double
    public var outputPerMillion: Double
    /// Batch inference prices, where the service offers them (no prompt caching with batch).
    public var batchInputPerMillion: Double?
    public var batchOutputPerMillion: Double?
    /// The price of prompt tokens read from the provider's prompt cache.
    public var cachedInputPerMillion: Double?
    /// The price of prompt tokens written to the cache, where it differs from the input price
    /// (Claude: 1.25× input; Nova writes at the input price, so nil).
    public var cacheWriteInputPerMillion: Double?
    public var source: String
    public var date: String

    public init(name: String, displayName: String, provider: String = "Amazon Bedrock", region: String = "us-east-1",
                inputPerMillion: Double, outputPerMillion: Double, batchInputPerMillion: Double? = nil,
                batchOutputPerMillion: Double? = nil, cachedInputPerMillion: Double? = nil, cacheWriteInputPerMillion: Double? = nil,
                source: String, date: String) {
        self.cacheWriteInputPerMillion = cacheWriteInputPerMillion
        self.name = name; self.displayName = displayName; self.provider = provider; self.region = region
        self.inputPerMillion = inputPerMillion; self.outputPerMillion = outputPerMillion
        self.batchInputPerMillion = batchInputPerMillion; self.batchOutputPerMillion = batchOutputPerMillion
        self.cachedInputPerMillion = cachedInputPerMillion; self.source = source; self.date = date
    }

    /// On-demand dollars for these token counts: cached prompt tokens at the cached-input price
    /// where there is one, else at the input price; `cacheWrites` of the uncached tokens (the
    /// misses that put a prefix in the cache) at the cache-write price where it differs.
    public func dollars(uncachedInput: Double, cachedInput: Double, output: Double, cacheWrites: Double = 0) -> Double {
        let writes = min(max(cacheWrites, 0), uncachedInput)
        return ((uncachedInput - writes) * inputPerMillion + writes * (cacheWriteInputPerMillion ?? inputPerMillion)
                + cachedInput * (cachedInputPerMillion ?? inputPerMillion) + output * outputPerMillion) / 1e6
    }

    enum CodingKeys: String, CodingKey {
        case name, provider, region, source, date
        case displayName = "display_name", inputPerMillion = "input_per_million", outputPerMillion = "output_per_million"
        case batchInputPerMillion = "batch_input_per_million", batchOutputPerMillion = "batch_output_per_million"
        case cachedInputPerMillion = "cached_input_per_million", cacheWriteInputPerMillion = "cache_write_input_per_million"
    }
}

/// A discount on On-Demand instance prices (Spot, Savings Plans): a multiplier that is a
/// modelling assumption, with what it rests on.
public struct Discount: Codable, Sendable, Equatable {
    public var name: String
    public var label: String
    public var multiplier: Double
    public var assumption: Bool
    public var basis: String
    public var source: String
    public var date: String
}

/// A CPU's published memory bandwidth per socket, for the bandwidth model of instances that have
/// no measurement on their CPU family (`BandwidthModel`). Keyed by the instances' `cpu` name.
public struct CPUSocket: Codable, Sendable, Equatable {
    public var name: String
    public var coresPerSocket: Int
    /// Hardware threads per core (vCPUs per core): 1 on Graviton, where a vCPU is a core.
    public var threadsPerCore: Int
    /// The memory system the figure comes from, e.g. "8 channels DDR5-4800".
    public var memory: String
    /// Theoretical peak, GB/s (10⁹ bytes): channels × MT/s × 8 bytes.
    public var bandwidthGBPerSecond: Double
    public var source: String
    public var date: String

    public init(name: String, coresPerSocket: Int, threadsPerCore: Int = 1, memory: String, bandwidthGBPerSecond: Double, source: String, date: String) {
        self.name = name; self.coresPerSocket = coresPerSocket; self.threadsPerCore = threadsPerCore; self.memory = memory
        self.bandwidthGBPerSecond = bandwidthGBPerSecond; self.source = source; self.date = date
    }

    enum CodingKeys: String, CodingKey {
        case name, memory, source, date
        case coresPerSocket = "cores_per_socket", threadsPerCore = "threads_per_core", bandwidthGBPerSecond = "memory_bandwidth_gb_per_second"
    }
}

/// Every price Swiftlet's cost reports use: the built-in catalogue (from the project's
/// `prices.md`), optionally overridden or extended by a user's file in the same format.
public struct PriceCatalogue: Codable, Sendable {
    public var about: String?
    public var currency: String?
    public var instances: [InstancePrice]
    public var managed: [ManagedPrice]
    public var discounts: [Discount]
    /// Memory bandwidth per socket of the CPUs the bandwidth model covers (Graviton today).
    public var cpus: [CPUSocket]

    public init(instances: [InstancePrice], managed: [ManagedPrice], discounts: [Discount], cpus: [CPUSocket] = []) {
        self.instances = instances; self.managed = managed; self.discounts = discounts; self.cpus = cpus
    }

    public func instance(_ name: String) -> InstancePrice? { instances.first { $0.name.lowercased() == name.lowercased() } }
    public func managedModel(_ name: String) -> ManagedPrice? { managed.first { $0.name.lowercased() == name.lowercased() } }
    public func discount(_ name: String) -> Discount? { discounts.first { $0.name == name } }
    /// The socket of an instance's CPU (matched by its `cpu` name), if the catalogue has its bandwidth.
    public func socket(of instance: InstancePrice) -> CPUSocket? { cpus.first { $0.name.lowercased() == instance.cpu.lowercased() } }

    /// The price of the machine a command runs on: `name` from the catalogue (its price replaced
    /// by `pricePerHour` if that is given too), or, with a price alone, this host as measured.
    /// Nil when neither is given.
    public func hostInstance(name: String?, pricePerHour: Double?) throws(PriceError) -> InstancePrice? {
        if let name {
            guard var i = instance(name) else { throw .unknownInstance(name, known: instances.map(\.name)) }
            if let p = pricePerHour { i.pricePerHour = p; i.source = "--price-per-hour"; i.date = "given" }
            return i
        }
        guard let p = pricePerHour else { return nil }
        let host = HostInfo.current()
        return InstancePrice(name: "this host", vcpus: host.cores, memoryGiB: Double(host.memoryBytes) / 1_073_741_824, pricePerHour: p,
                             architecture: host.architecture, cpu: host.cpu, region: "—", source: "--price-per-hour", date: "given")
    }

    /// Managed models by catalogue name; an unknown name is an error listing the known ones.
    public func managedModels(_ names: [String]) throws(PriceError) -> [ManagedPrice] {
        var out: [ManagedPrice] = []
        for name in names {
            guard let m = managedModel(name) else { throw .unknownManagedModel(name, known: managed.map(\.name)) }
            out.append(m)
        }
        return out
    }

    /// The catalogue shipped with Swiftlet (a package resource).
    public static func builtin() throws(PriceError) -> PriceCatalogue {
        guard let url = resourceURL() else {
            throw .missingCatalogue("the built-in price catalogue (prices.json) was not found beside the executable; pass --prices FILE")
        }
        return try parse(try read(url), origin: "built-in catalogue")
    }

    /// The built-in catalogue with `file`'s entries laid over it: an entry with a known name
    /// replaces the built-in one, a new name is added.
    public static func load(overrides file: String?) throws(PriceError) -> PriceCatalogue {
        var catalogue = try builtin()
        if let file { catalogue.merge(try parse(try read(URL(fileURLWithPath: file)), origin: file)) }
        return catalogue
    }

    public mutating func merge(_ other: PriceCatalogue) {
        func lay<T>(_ base: inout [T], _ new: [T], _ key: (T) -> String) {
            for entry in new {
                if let i = base.firstIndex(where: { key($0).lowercased() == key(entry).lowercased() }) { base[i] = entry } else { base.append(entry) }
            }
        }
        lay(&instances, other.instances, \.name)
        lay(&managed, other.managed, \.name)
        lay(&discounts, other.discounts, \.name)
        lay(&cpus, other.cpus, \.name)
    }

    static func read(_ url: URL) throws(PriceError) -> Data {
        do { return try Data(contentsOf: url) } catch { throw .unreadable(url.path, "\(error.localizedDescription)") }
    }

    /// Decodes and checks a catalogue. Every section may be missing in an override file; every
    /// entry must be complete, with positive prices, a source and a date.
    public static func parse(_ data: Data, origin: String) throws(PriceError) -> PriceCatalogue {
        let root: Any
        do { root = try JSONSerialization.jsonObject(with: data) } catch { throw .malformed(origin, "not valid JSON: \(error.localizedDescription)") }
        guard let object = root as? [String: Any] else { throw .malformed(origin, "the top level must be a JSON object") }
        var catalogue = PriceCatalogue(instances: [], managed: [], discounts: [])
        catalogue.about = object["about"] as? String
        catalogue.currency = object["currency"] as? String
        if let c = catalogue.currency, c != "USD" { throw .invalidField(origin, entry: "catalogue", field: "currency", "only USD is supported, got \(c)") }
        catalogue.instances = try entries(object, "instances", origin) { (e: Entry) throws(PriceError) in
            let i = InstancePrice(name: try e.string("name"), vcpus: try e.int("vcpus"), memoryGiB: try e.positive("memory_gib"),
                                  pricePerHour: try e.positive("price_per_hour"),
                                  architecture: try e.string("architecture", oneOf: ["arm64", "x86_64"]), cpu: try e.string("cpu"),
                                  region: try e.optionalString("region") ?? "us-east-1", accelerator: try e.optionalString("accelerator"),
                                  source: try e.string("source"), date: try e.date())
            guard i.vcpus >= 1 else { throw e.invalid("vcpus", "must be at least 1") }
            return i
        }
        catalogue.managed = try entries(object, "managed", origin) { (e: Entry) throws(PriceError) in
            let batchIn = try e.optionalPositive("batch_input_per_million"), batchOut = try e.optionalPositive("batch_output_per_million")
            guard (batchIn == nil) == (batchOut == nil) else { throw e.invalid(batchIn == nil ? "batch_input_per_million" : "batch_output_per_million", "batch prices come as a pair: give both or neither") }
            return ManagedPrice(name: try e.string("name"), displayName: try e.optionalString("display_name") ?? e.name,
                                provider: try e.optionalString("provider") ?? "unknown", region: try e.optionalString("region") ?? "unknown",
                                inputPerMillion: try e.positive("input_per_million"), outputPerMillion: try e.positive("output_per_million"),
                                batchInputPerMillion: batchIn, batchOutputPerMillion: batchOut,
                                cachedInputPerMillion: try e.optionalPositive("cached_input_per_million", allowZero: true),
                                cacheWriteInputPerMillion: try e.optionalPositive("cache_write_input_per_million"),
                                source: try e.string("source"), date: try e.date())
        }
        catalogue.discounts = try entries(object, "discounts", origin) { (e: Entry) throws(PriceError) in
            let m = try e.positive("multiplier")
            guard m <= 1 else { throw e.invalid("multiplier", "a discount multiplies On-Demand by at most 1, got \(m)") }
            return Discount(name: try e.string("name"), label: try e.optionalString("label") ?? e.name, multiplier: m,
                            assumption: (e.fields["assumption"] as? Bool) ?? true, basis: try e.optionalString("basis") ?? "",
                            source: try e.string("source"), date: try e.date())
        }
        catalogue.cpus = try entries(object, "cpus", origin) { (e: Entry) throws(PriceError) in
            let c = CPUSocket(name: try e.string("name"), coresPerSocket: try e.int("cores_per_socket"),
                              threadsPerCore: e.fields["threads_per_core"] == nil ? 1 : try e.int("threads_per_core"),
                              memory: try e.string("memory"), bandwidthGBPerSecond: try e.positive("memory_bandwidth_gb_per_second"),
                              source: try e.string("source"), date: try e.date())
            guard c.coresPerSocket >= 1 else { throw e.invalid("cores_per_socket", "must be at least 1") }
            guard c.threadsPerCore >= 1 else { throw e.invalid("threads_per_core", "must be at least 1") }
            return c
        }
        return catalogue
    }

    private static func entries<T>(_ object: [String: Any], _ section: String, _ origin: String,
                                   _ make: (Entry) throws(PriceError) -> T) throws(PriceError) -> [T] {
        guard let raw = object[section] else { return [] }
        guard let list = raw as? [Any] else { throw .malformed(origin, "'\(section)' must be an array of objects") }
        var out: [T] = []
        for (index, item) in list.enumerated() {
            guard let fields = item as? [String: Any] else { throw .malformed(origin, "'\(section)'[\(index)] must be an object") }
            out.append(try make(Entry(origin: origin, section: section, index: index, fields: fields)))
        }
        return out
    }

    /// Where SwiftPM puts the resource bundle: beside the executable (or the test bundle).
    /// Looked up by hand so that a missing bundle is an error, not a crash.
    static func resourceURL() -> URL? {
        let bundleName = "Swiftlet_Cost.resources"
        var dirs = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
        if let exe = Bundle.main.executableURL { dirs.append(exe.resolvingSymlinksInPath().deletingLastPathComponent()) }
        // On Linux the tests are an executable too, covered above. On macOS they are a bundle that
        // the xctest tool loads: the bundle holding this code. (Not `Bundle.allBundles`: it
        // crashes in some Linux Foundations, e.g. Debian's Swift 6.2.3.)
        #if canImport(Darwin)
        dirs.append(Bundle(for: ResourceMarker.self).bundleURL.deletingLastPathComponent())
        #endif
        for dir in dirs {
            let url = dir.appendingPathComponent(bundleName).appendingPathComponent("prices.json")
            if FileManager.default.fileExists(atPath: url.path) { return url }
        }
        return nil
    }
}

#if canImport(Darwin)
/// A class of this module, for `Bundle(for:)`.
private final class ResourceMarker {}
#endif

/// One catalogue entry being decoded: its fields, and errors that name it.
struct Entry {
    let origin: String, section: String, index: Int, fields: [String: Any]

    var name: String { fields["name"] as? String ?? "#\(index)" }

    func invalid(_ field: String, _ why: String) -> PriceError {
        .invalidField(origin, entry: "\(section) '\(name)'", field: field, why)
    }

    func string(_ key: String, oneOf allowed: [String]? = nil) throws(PriceError) -> String {
        guard let v = fields[key] else { throw invalid(key, "missing") }
        guard let s = v as? String, !s.trimmingCharacters(in: .whitespaces).isEmpty else { throw invalid(key, "must be a non-empty string") }
        if let allowed, !allowed.contains(s) { throw invalid(key, "must be one of \(allowed.joined(separator: ", ")), got \(s)") }
        return s
    }

    func optionalString(_ key: String) throws(PriceError) -> String? {
        guard let v = fields[key], !(v is NSNull) else { return nil }
        guard let s = v as? String else { throw invalid(key, "must be a string") }
        return s
    }

    func number(_ key: String) throws(PriceError) -> Double? {
        guard let v = fields[key], !(v is NSNull) else { return nil }
        // JSON booleans arrive as NSNumbers too; their type code is "c" (char).
        guard let n = v as? NSNumber, String(cString: n.objCType) != "c", n.doubleValue.isFinite else { throw invalid(key, "must be a number") }
        return n.doubleValue
    }

    func positive(_ key: String) throws(PriceError) -> Double {
        guard let d = try number(key) else { throw invalid(key, "missing") }
        guard d > 0 else { throw invalid(key, "must be greater than 0, got \(d)") }
        return d
    }

    func optionalPositive(_ key: String, allowZero: Bool = false) throws(PriceError) -> Double? {
        guard let d = try number(key) else { return nil }
        guard d > 0 || (allowZero && d == 0) else { throw invalid(key, "must be greater than 0, got \(d)") }
        return d
    }

    func int(_ key: String) throws(PriceError) -> Int {
        guard let d = try number(key) else { throw invalid(key, "missing") }
        guard d == d.rounded(), abs(d) < 1e9 else { throw invalid(key, "must be a whole number, got \(d)") }
        return Int(d)
    }

    /// "YYYY-MM-DD", "YYYY-MM" or "undated".
    func date() throws(PriceError) -> String {
        let d = try string("date")
        if d == "undated" { return d }
        let parts = d.split(separator: "-", omittingEmptySubsequences: false)
        let ok = (parts.count == 2 || parts.count == 3) && parts[0].count == 4 && parts.dropFirst().allSatisfy { $0.count == 2 }
            && parts.allSatisfy { $0.allSatisfy(\.isNumber) }
        guard ok else { throw invalid("date", "must be YYYY-MM-DD, YYYY-MM or \"undated\", got \(d)") }
        return d
    }
}

public enum PriceError: Error, CustomStringConvertible, Equatable {
    case missingCatalogue(String)
    case unreadable(String, String)
    case malformed(String, String)
    case invalidField(String, entry: String, field: String, String)
    case unknownInstance(String, known: [String])
    case unknownManagedModel(String, known: [String])

    public var description: String {
        switch self {
        case .missingCatalogue(let m): return m
        case .unreadable(let path, let why): return "cannot read price file \(path): \(why)"
        case .malformed(let origin, let why): return "\(origin): \(why)"
        case .invalidField(let origin, let entry, let field, let why): return "\(origin): \(entry), field '\(field)': \(why)"
        case .unknownInstance(let n, let known): return "no instance '\(n)' in the price catalogue; known: \(known.joined(separator: ", "))"
        case .unknownManagedModel(let n, let known): return "no managed model '\(n)' in the price catalogue; known: \(known.joined(separator: ", "))"
        }
    }
}
