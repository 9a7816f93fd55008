#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CSupport
import Synchronization

/// One pool of compute threads, sized to the cores, for the forward pass. The calling thread
/// works too: a pool of N threads starts N − 1 workers, each pinned to a CPU (`ThreadPlacement`).
///
/// A decode step runs a few hundred parallel loops per token, so handing out work must cost well
/// under a microsecond: workers spin on a generation counter while work is frequent and sleep on
/// a condition variable after ~1 ms idle. Work is split into chunks taken from an atomic counter
/// (dynamic balance on a shared, noisy machine); callers size chunks so that no two threads write
/// the same cache line.
///
/// Callers from several threads are served one `parallelFor` at a time (a mutex); a
/// `parallelFor` must not be nested inside another's work on the same pool.
public final class ComputePool: @unchecked Sendable {
    public let threadCount: Int

    private let generation = Atomic<Int>(0)
    private let nextChunk = Atomic<Int>(0)
    private let busyWorkers = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private var chunkCount = 0
    private var body: UnsafeRawPointer?          // points at a `(Int, Int) -> Void` for the current job
    private var mutex = pthread_mutex_t()
    private var callerMutex = pthread_mutex_t()
    private var wakeup = pthread_cond_t()
    private var workerThreads: [pthread_t] = []
    /// About 50–100 ms of spinning at ~40 ns a pause before an idle worker sleeps.
    static let spinsBeforeSleep = 2_000_000

    public init(threads: Int) {
        threadCount = max(1, threads)
        pthread_mutex_init(&mutex, nil)
        pthread_mutex_init(&callerMutex, nil)
        pthread_cond_init(&wakeup, nil)
        #if canImport(Glibc)
        let placement = threadCount > 1 && ThreadPlacement.enabled ? ThreadPlacement.cpuOrder() : nil
        #endif
        for index in 1..<threadCount {
            var tid = pthread_t()
            let start = WorkerStart(pool: .passUnretained(self), index: index)
            let context = Unmanaged.passRetained(start).toOpaque()
            pthread_create(&tid, nil, { ctx in
                let start = Unmanaged<WorkerStart>.fromOpaque(ctx!).takeRetainedValue()
                start.pool._withUnsafeGuaranteedRef { $0.workerLoop(index: start.index) }
                return nil
            }, context)
            #if canImport(Glibc)
            ThreadPlacement.pin(tid, worker: index, order: placement)
            #endif
            workerThreads.append(tid)
        }
    }

    deinit {
        stopping.store(true, ordering: .releasing)
        generation.add(1, ordering: .releasing)
        pthread_mutex_lock(&mutex)
        pthread_cond_broadcast(&wakeup)
        pthread_mutex_unlock(&mutex)
        for t in workerThreads { pthread_join(t, nil) }
        pthread_cond_destroy(&wakeup)
        pthread_mutex_destroy(&mutex)
        pthread_mutex_destroy(&callerMutex)
    }

    /// Calls `work(i, thread)` for every chunk i in 0..<chunks, spread over the pool; `thread`
    /// (0 ..< threadCount) names the thread, for per-thread scratch. Returns when all are done.
    public func parallelFor(chunks: Int, _ work: (_ chunk: Int, _ thread: Int) -> Void) {
        if chunks <= 0 { return }
        if threadCount == 1 || chunks == 1 {
            for i in 0..<chunks { work(i, 0) }
            return
        }
        pthread_mutex_lock(&callerMutex)
        defer { pthread_mutex_unlock(&callerMutex) }
        withoutActuallyEscaping(work) { escapable in
            withUnsafePointer(to: escapable) { bodyPointer in
                body = UnsafeRawPointer(bodyPointer)
                chunkCount = chunks
                nextChunk.store(0, ordering: .relaxed)
                busyWorkers.store(threadCount - 1, ordering: .relaxed)
                // Sequentially consistent with the sleeper's increment-then-check, so a worker
                // about to sleep either sees this job or is seen here and woken.
                generation.add(1, ordering: .sequentiallyConsistent)
                if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                    pthread_mutex_lock(&mutex)
                    pthread_cond_broadcast(&wakeup)
                    pthread_mutex_unlock(&mutex)
                }
                runChunks(escapable, thread: 0)
                var spins = 0
                while busyWorkers.load(ordering: .acquiring) > 0 { spins += 1; spinPause(spins) }
                body = nil
            }
        }
    }

    private func runChunks(_ work: (Int, Int) -> Void, thread: Int) {
        while true {
            let i = nextChunk.add(1, ordering: .relaxed).oldValue
            if i >= chunkCount { return }
            work(i, thread)
        }
    }

    /// Runs the current job's chunks. A separate function so that the worker's reference to the
    /// job's closure is released before it reports done (the closure only lives for the caller's
    /// `parallelFor`).
    @inline(never)
    private func runPostedJob(thread: Int) {
        let work = body!.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee
        runChunks(work, thread: thread)
    }

    /// What a worker thread starts with. The pool is held unretained: workers must not keep it
    /// alive (its deinit is what stops them), and `deinit` joins every worker before the memory
    /// goes, so a worker that starts late — even during `deinit` — still reads a live object and
    /// sees `stopping`. (An `unowned` reference trapped there: a model created and dropped at once
    /// could be deinitialized before its workers had started.)
    private final class WorkerStart {
        let pool: Unmanaged<ComputePool>
        let index: Int
        init(pool: Unmanaged<ComputePool>, index: Int) { self.pool = pool; self.index = index }
    }

    private func workerLoop(index: Int) {
        var seen = 0
        while true {
            // Spin briefly for the next job, then sleep until one is posted.
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins < Self.spinsBeforeSleep { spinPause(spins); continue }
                pthread_mutex_lock(&mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen {
                    pthread_cond_wait(&wakeup, &mutex)
                }
                sleepers.subtract(1, ordering: .relaxed)
                pthread_mutex_unlock(&mutex)
            }
            seen = generation.load(ordering: .acquiring)
            if stopping.load(ordering: .acquiring) { return }
            runPostedJob(thread: index)
            busyWorkers.subtract(1, ordering: .releasing)
        }
    }
}

/// Busy-wait step: the CPU's pause hint, and every 1024th step a `sched_yield`, so that an
/// oversubscribed machine still makes progress. (Yielding on every step cost ~20% of decode time
/// in system calls and scheduler work.)
@inline(__always) func spinPause(_ spins: Int) {
    if spins & 1023 == 0 { sched_yield() } else { swiftlet_cpu_relax() }
}
