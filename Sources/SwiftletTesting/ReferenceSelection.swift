import Foundation

/// Narrowing the real-model reference checks by environment variable, for runs where the whole
/// set costs too much (scripts/test-arm64 under qemu; CI on hosts without the int8 tiles). Every
/// narrowing is printed, so a green run never reads as a check of what it left out.
public enum ReferenceSelection {
    /// `all`, unless `variable` names some of them (comma-separated raw values).
    public static func narrowed<T: RawRepresentable>(_ all: [T], by variable: String, in suite: String) -> [T] where T.RawValue == String {
        guard let names = ProcessInfo.processInfo.environment[variable], !names.isEmpty else { return all }
        let wanted = Set(names.split(separator: ",").map(String.init))
        let chosen = all.filter { wanted.contains($0.rawValue) }
        print("\(suite): \(variable)=\(names): checking \(chosen.map(\.rawValue).joined(separator: ", ")) only")
        return chosen
    }

    /// SWIFTLET_REFERENCE_PERPLEXITY=all: every perplexity run, the slow ones CI leaves out included.
    public static var allPerplexityRuns: Bool {
        ProcessInfo.processInfo.environment["SWIFTLET_REFERENCE_PERPLEXITY"] == "all"
    }
}
