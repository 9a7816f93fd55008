#if canImport(Glibc)
import Glibc
import CNUMA
import CSupport

/// Where a `ComputePool`'s worker threads run: each pinned to one CPU of the process's allowed
/// set, so a worker keeps its caches and its streaming prefetch state from one parallel loop to
/// the next instead of being moved between cores. On a host with several NUMA nodes (libnuma)
/// the CPUs are taken node by node, starting with the node the pool is created on, which is
/// where the weights were first touched at load: a pool that fits in one node stays there, a
/// bigger one fills that node first. On one node (this project's machines) that order is simply
/// the allowed CPUs in turn.
///
/// The calling thread (thread 0 of every job: the engine's thread, a Swift concurrency thread in
/// the server) is never pinned; worker i takes the i-th CPU of the order, leaving the first for
/// the caller. `SWIFTLET_PIN_THREADS=0` turns pinning off.
enum ThreadPlacement {
    static var enabled: Bool {
        guard let value = getenv("SWIFTLET_PIN_THREADS") else { return true }
        return String(cString: value) != "0"
    }

    /// The allowed CPUs, the current node's first (then the other nodes in order), or nil when
    /// the affinity mask cannot be read.
    static func cpuOrder() -> [Int32]? {
        var cpus = [Int32](repeating: 0, count: 4096)
        let count = swiftlet_allowed_cpus(&cpus, Int32(cpus.count))
        guard count > 0 else { return nil }
        let allowed = Array(cpus.prefix(Int(count)))
        guard numa_available() >= 0, numa_num_configured_nodes() > 1 else { return allowed }
        let here = numa_node_of_cpu(swiftlet_current_cpu())
        // Stable: CPUs keep their order within a node.
        return allowed.enumerated().sorted { a, b in
            let na = numa_node_of_cpu(a.element), nb = numa_node_of_cpu(b.element)
            let ka = na == here ? -1 : na, kb = nb == here ? -1 : nb
            return ka != kb ? ka < kb : a.offset < b.offset
        }.map(\.element)
    }

    /// Pins `thread` (worker `index` ≥ 1 of the pool) to its CPU; does nothing without an order.
    static func pin(_ thread: pthread_t, worker index: Int, order: [Int32]?) {
        guard let order, !order.isEmpty else { return }
        _ = swiftlet_pin_thread(thread, order[index % order.count])
    }
}
#endif
