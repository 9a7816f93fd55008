"""Load and fault tests on the real binary, bounded in time (FAULT_SECONDS, default 60):
overload at 3x capacity, 1,000 random disconnects, SIGTERM with 8 streams open."""
import importlib.machinery
import os
import signal
import threading
import time

from harness import NAME, ROOT, Server, run_tests

loadtest = importlib.machinery.SourceFileLoader("loadtest", os.path.join(ROOT, "scripts", "loadtest")).load_module()
SECONDS = float(os.environ.get("FAULT_SECONDS", "60"))
DISCONNECTS = int(os.environ.get("FAULT_DISCONNECTS", "1000"))


def wait_idle(server, timeout=10):
    deadline = time.time() + timeout
    while True:
        m = server.metrics()
        idle = m["swiftlet_num_requests_running"] == 0 and m["swiftlet_num_requests_waiting"] == 0 \
            and m["swiftlet_kv_blocks_used"] == 0
        if idle or time.time() > deadline:
            return m
        time.sleep(0.05)


def test_three_times_capacity():
    """Capacity = 4 running + 4 queued; 24 clients keep sending for SECONDS. Admitted requests
    all complete; the rest are refused at once with 503 server_overloaded; nothing else fails."""
    with Server("--ctx", "1024", "--max-seqs", "4", "--max-queue", "4") as s:
        results, wall = loadtest.run(s.url, NAME, concurrency=24, requests=None, duration=SECONDS, prompt_words=30,
                                     max_tokens=24, seed=3, timeout=120)
        summary = loadtest.summarize(results, wall, 24)
        print("    ", summary)
        kinds = {r.kind for r in results}
        assert kinds <= {"ok", "http_503:server_overloaded"}, kinds
        ok = [r for r in results if r.kind == "ok"]
        rejected = [r for r in results if r.kind != "ok"]
        assert len(ok) >= 20 and all(r.output_tokens > 0 for r in ok)
        if rejected:
            times = sorted(r.end - r.start for r in rejected)
            p95 = times[int(0.95 * (len(times) - 1))]
            print(f"     rejections: {len(rejected)}, answered in p50 {times[len(times) // 2] * 1000:.1f} ms, "
                  f"p95 {p95 * 1000:.1f} ms, max {times[-1] * 1000:.1f} ms")
            assert p95 < 0.050, f"p95 rejection time {p95 * 1000:.1f} ms"
        m = wait_idle(s)
        assert m["swiftlet_kv_blocks_used"] == 0 and m["swiftlet_num_requests_running"] == 0


def test_random_disconnects_free_every_block():
    """Clients hang up at random points (before the answer, after 0..n chunks, streaming or
    not): afterwards no request runs or waits and every KV block is free; a request succeeds."""
    with Server("--ctx", "1024", "--max-seqs", "8") as s:
        streamed, _ = loadtest.run(s.url, NAME, concurrency=16, requests=DISCONNECTS * 3 // 4, duration=SECONDS * 3,
                                   prompt_words=20, max_tokens=64, disconnect_fraction=1.0, seed=5, timeout=60)
        # The time bounds only stop a hung run: every one of the DISCONNECTS requests must be sent.
        plain, _ = loadtest.run(s.url, NAME, concurrency=8, requests=DISCONNECTS - len(streamed), duration=SECONDS * 3,
                                prompt_words=20, max_tokens=64, disconnect_fraction=1.0, seed=6, timeout=60,
                                stream=False)
        results = streamed + plain
        kinds = {}
        for r in results:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
        print("    ", len(results), "requests:", kinds)
        assert len(results) == DISCONNECTS
        assert set(kinds) <= {"ok", "disconnected"}, kinds
        m = wait_idle(s)
        assert m["swiftlet_num_requests_running"] == 0 and m["swiftlet_num_requests_waiting"] == 0
        assert m["swiftlet_kv_blocks_used"] == 0, m["swiftlet_kv_blocks_used"]
        assert m["swiftlet_request_success_total"] >= DISCONNECTS * 0.9   # counted, mostly as cancelled
        r = loadtest.one_request(s.url, NAME, "The capital of France is", 4, False, None, 30)
        assert r.kind == "ok", r.kind


def test_sigterm_with_eight_streams_open():
    """SIGTERM while 8 streams run: 4 short ones finish within the shutdown timeout, 4 long ones
    are ended with an SSE error event; a new request gets 503; the process exits 0."""
    with Server("--ctx", "4096", "--shutdown-timeout", "3") as s:
        results = [None] * 8

        def stream(i):
            long = i % 2 == 0
            results[i] = loadtest.one_request(s.url, NAME, f"Story number {i}: once upon a time", 3000 if long else 40,
                                              False, None, 60, ignore_eos=long)
        threads = [threading.Thread(target=stream, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        deadline = time.time() + 30
        while s.metrics()["swiftlet_num_requests_running"] < 8 and time.time() < deadline:
            time.sleep(0.05)
        assert s.metrics()["swiftlet_num_requests_running"] == 8
        s.signal(signal.SIGTERM)
        time.sleep(0.3)
        late = loadtest.one_request(s.url, NAME, "too late", 4, False, None, 10)
        assert late.kind == "http_503:server_shutting_down", late.kind
        code = s.wait(timeout=30)
        for t in threads:
            t.join(timeout=30)
        kinds = [r.kind for r in results]
        print("    ", kinds, "exit", code)
        assert code == 0
        assert all(k in ("ok", "sse_error:server_shutting_down") for k in kinds), kinds
        assert kinds.count("ok") >= 4 and kinds.count("sse_error:server_shutting_down") >= 1
        assert "stopped:" in s.output()


if __name__ == "__main__":
    run_tests([test_three_times_capacity, test_random_disconnects_free_every_block, test_sigterm_with_eight_streams_open])
