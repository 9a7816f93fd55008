"""HTTP edge cases on the real binary, each bounded in time (socket timeouts, deadlines on every
wait): a connection flood past the open-file limit, slowloris, a body that never arrives,
exact burst admission, pipelining, huge headers, 404/405, JSON the parser must explain,
API keys from a file or the environment, OpenAI's defaults, unsupported parameters, cancelled
requests in /metrics, the request log, a failed bind, and a second SIGINT."""
import errno
import http.client
import importlib.machinery
import io
import json
import os
import random
import re
import selectors
import signal
import socket
import subprocess
import tempfile
import threading
import time

import openai
from prometheus_client.parser import text_string_to_metric_families

from harness import BINARY, MODEL, NAME, ROOT, Server, run_tests

loadtest = importlib.machinery.SourceFileLoader("loadtest", os.path.join(ROOT, "scripts", "loadtest")).load_module()
loadtest.raise_fd_limit()   # the flood opens hundreds of sockets from this process
PROMPT = "The capital of France is"

_shared = None


def shared():
    """One default server for the tests that need nothing special (started on first use)."""
    global _shared
    if _shared is None:
        _shared = Server("--ctx", "2048")
    return _shared


def client_for(server, key=None):
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key or server.api_key or "none", max_retries=0, timeout=60)


# MARK: helpers

def wait_until(predicate, timeout, what, interval=0.05):
    """Polls `predicate` until it returns something true; fails after `timeout` seconds. The states
    waited on (a gauge in /metrics, a line in the server's log) have no notification to block on,
    so this polls them; the sleep only paces the polling, it is never what is being tested."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def labelled(server):
    """/metrics as {(name, ((label, value), ...)): value}, parsed by prometheus_client."""
    _, text = server.get("/metrics")
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def sample(samples, name, **labels):
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(v for (n, ls), v in samples.items() if n == name and all(dict(ls).get(k) == x for k, x in labels.items()))


def request(server, method, path, body=None, headers=None, timeout=60):
    """One request on its own connection: (status, headers lowercased, JSON body or raw bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        h = {"Content-Type": "application/json"} if data is not None else {}
        h.update(headers or {})
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = raw
        return r.status, {k.lower(): v for k, v in r.getheaders()}, payload
    finally:
        conn.close()


def post_bytes(path, body, extra=""):
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def read_response(f):
    """One HTTP/1.1 response from a binary file: (status, headers lowercased, body); None at EOF."""
    line = f.readline()
    if not line:
        return None
    m = re.match(rb"HTTP/1\.[01] (\d{3})", line)
    assert m, f"not an HTTP status line: {line!r}"
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = f.read(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int(f.readline().split(b";")[0], 16)
            if size == 0:
                while f.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += f.read(size)
            f.readline()
    else:
        body = f.read()
    return int(m.group(1)), headers, body


def error_of(body):
    """The `error` object of an OpenAI error body (bytes or parsed)."""
    if isinstance(body, (bytes, str)):
        body = json.loads(body)
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
    return body["error"]


def completion_body(max_tokens=2, **extra):
    return {"model": NAME, "prompt": PROMPT, "max_tokens": max_tokens, "temperature": 0, **extra}


def run_flood(port, count, deadline, trickle=None, interval=0.3, watch=None):
    """`count` connections from one thread with non-blocking sockets until each is closed by the
    server (or `deadline`, a monotonic time). `trickle`: bytes sent once connected, then one more
    header byte every `interval` s. `watch()` runs on every loop turn (e.g. a liveness check).
    Returns one record per connection: open/closed times, bytes received, reset, connect error."""
    sel = selectors.DefaultSelector()
    records = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        rec = {"start": time.monotonic(), "open": None, "closed": None, "data": b"", "reset": False, "error": None,
               "next": None, "sock": sock}
        records.append(rec)
        err = sock.connect_ex(("127.0.0.1", port))
        if err not in (0, errno.EINPROGRESS):
            rec["error"] = errno.errorcode.get(err, str(err))
            sock.close()
            continue
        sel.register(sock, selectors.EVENT_WRITE, rec)

    def closed(rec, reset=False):
        rec["closed"] = time.monotonic()
        rec["reset"] = rec["reset"] or reset
        sel.unregister(rec["sock"])
        rec["sock"].close()

    def send(rec, data):
        try:
            rec["sock"].send(data)
        except BlockingIOError:
            pass
        except OSError:
            closed(rec, reset=True)

    pending = lambda: [r for r in records if r["error"] is None and r["closed"] is None]
    while pending() and time.monotonic() < deadline:
        if watch:
            watch()
        for key, _ in sel.select(0.05):
            rec = key.data
            if rec["closed"] is not None:
                continue
            if rec["open"] is None:
                err = rec["sock"].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    rec["error"] = errno.errorcode.get(err, str(err))
                    sel.unregister(rec["sock"])
                    rec["sock"].close()
                    continue
                rec["open"] = time.monotonic()
                sel.modify(rec["sock"], selectors.EVENT_READ, rec)
                if trickle:
                    send(rec, trickle)
                    rec["next"] = rec["open"] + interval
                continue
            try:
                data = rec["sock"].recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                closed(rec, reset=True)
                continue
            if data:
                rec["data"] += data
            else:
                closed(rec)
        if trickle:
            now = time.monotonic()
            for rec in pending():
                if rec["open"] is not None and rec["next"] <= now:
                    send(rec, b"a")
                    rec["next"] += interval
    for rec in pending():
        sel.unregister(rec["sock"])
        rec["sock"].close()
    return records


# MARK: connections

def test_flood_beyond_fd_limit():
    """fd limit 256 (so --max-connections is lowered to 192): 600 idle connections during a
    stream. The process lives, the stream completes, connections past the limit get 503
    too_many_connections, the rest are closed after the idle timeout, and the server recovers."""
    with Server("--idle-timeout", "3", fd_limit=256) as s:
        out = s.output()
        assert re.search(r"--max-connections lowered.*max_connections=192", out), out
        assert sample(labelled(s), "swiftlet_http_connections_limit") == 192
        result = {}
        stream = threading.Thread(target=lambda: result.update(r=loadtest.one_request(
            s.url, NAME, "Once upon a time", 300, False, None, 120, ignore_eos=True)))
        stream.start()
        wait_until(lambda: s.metrics()["swiftlet_num_requests_running"] == 1, 20, "the stream to run")

        def alive():
            assert s.process.poll() is None, f"the server died ({s.process.returncode}): {s.output()[-2000:]}"
        start = time.monotonic()
        records = run_flood(s.port, 600, start + 60, watch=alive)
        alive()
        stream.join(timeout=60)
        assert not stream.is_alive()
        r = result["r"]
        assert r.kind == "ok" and r.output_tokens == 300, (r.kind, r.output_tokens)

        refused, idle, other = [], [], []
        for rec in records:
            if rec["data"].startswith(b"HTTP/1.1 503"):
                head, _, body = rec["data"].partition(b"\r\n\r\n")
                try:
                    code = json.loads(body)["error"]["code"]
                except ValueError:
                    code = None
                (refused if code == "too_many_connections" and rec["closed"] else other).append(rec)
            elif rec["data"] == b"" and rec["closed"] is not None and not rec["reset"] \
                    and rec["closed"] - rec["open"] >= 2.5:
                idle.append(rec)
            else:
                other.append(rec)
        lifetimes = sorted(rec["closed"] - rec["open"] for rec in idle)
        print(f"     600 connections in {time.monotonic() - start:.1f} s: {len(refused)} got 503 too_many_connections, "
              f"{len(idle)} closed idle after {lifetimes[0] if lifetimes else 0:.1f}…{lifetimes[-1] if lifetimes else 0:.1f} s, "
              f"{len(other)} other")
        for rec in other[:5]:
            print("     other:", {k: rec[k] for k in ("error", "reset", "data")},
                  "open after", None if rec["open"] is None else round(rec["open"] - rec["start"], 2),
                  "closed after", None if rec["closed"] is None or rec["open"] is None else round(rec["closed"] - rec["open"], 2))
        assert refused and idle and not other, (len(refused), len(idle), len(other))
        wait_until(lambda: request(s, "GET", "/health", timeout=10)[0] == 200, 20, "/health to answer 200")
        m = labelled(s)
        assert sample(m, "swiftlet_http_refused_total", reason="max_connections") > 0, m
        alive()


def test_slowloris_closed_after_idle_timeout():
    """50 connections send a request line, a Host header, then a header byte every 0.3 s: all are
    closed by the server within ~6 s (--idle-timeout 2), while a normal completion succeeds."""
    with Server("--idle-timeout", "2") as s:
        result = {}
        normal = threading.Thread(target=lambda: result.update(r=loadtest.one_request(
            s.url, NAME, PROMPT, 8, False, None, 30, stream=False)))
        start = time.monotonic()
        hello = b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n"
        records = []
        flood = threading.Thread(target=lambda: records.extend(run_flood(s.port, 50, start + 12, trickle=hello, interval=0.3)))
        flood.start()
        normal.start()
        normal.join(timeout=40)
        flood.join(timeout=40)
        assert not flood.is_alive() and not normal.is_alive()
        assert result["r"].kind == "ok" and result["r"].output_tokens == 8, result["r"].kind
        errors = [r["error"] for r in records if r["error"]]
        assert not errors, errors
        open_still = [r for r in records if r["closed"] is None]
        lifetimes = sorted(r["closed"] - r["open"] for r in records if r["closed"] is not None)
        print(f"     {len(records)} slowloris connections: {len(lifetimes)} closed by the server after "
              f"{lifetimes[0] if lifetimes else 0:.2f}…{lifetimes[-1] if lifetimes else 0:.2f} s, {len(open_still)} still open")
        assert len(records) == 50 and not open_still, len(open_still)
        assert lifetimes[-1] <= 6.0, lifetimes[-1]


def test_body_timeout_408():
    """--body-timeout 1: Content-Length 1000 with 10 bytes sent gets 408 request_timeout, then EOF."""
    with Server("--body-timeout", "1") as s:
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=20)
        try:
            sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000\r\n\r\n" + b'{"model": ')
            start = time.monotonic()
            f = sock.makefile("rb")
            resp = read_response(f)
            elapsed = time.monotonic() - start
            assert resp is not None, "the connection closed without a response"
            status, headers, body = resp
            print(f"     {status} after {elapsed:.2f} s: {body[:160]!r}")
            assert status == 408, (status, body)
            assert error_of(body)["code"] == "request_timeout", body
            try:
                rest = f.read()
            except ConnectionResetError:
                rest = b""
            assert rest == b"", rest
        finally:
            sock.close()


def test_burst_admission_is_exact():
    """--max-seqs 1 --max-queue 8, one blocker running: of 40 simultaneous requests 32 get 503
    server_overloaded with Retry-After at once; once the blocker hangs up, the other 8 get 200."""
    with Server("--max-seqs", "1", "--max-queue", "8", "--ctx", "4096") as s:
        blocker = socket.create_connection(("127.0.0.1", s.port), timeout=30)
        try:
            burst_behind(s, blocker)
        finally:
            blocker.close()   # on failure too: a running blocker would hold up the shutdown


def burst_behind(s, blocker):
    body = json.dumps({"model": NAME, "prompt": "Once upon a time", "max_tokens": 2000, "ignore_eos": True,
                       "stream": True, "temperature": 0}).encode()
    blocker.sendall(post_bytes("/v1/completions", body))
    assert blocker.recv(4096).startswith(b"HTTP/1.1 200"), "the blocker did not start"
    wait_until(lambda: s.metrics()["swiftlet_num_requests_running"] == 1, 20, "the blocker to run")

    n = 40
    barrier = threading.Barrier(n + 1)
    done = threading.Condition()
    results = []

    def fire(i):
        r = {"i": i, "status": None, "error": None}
        try:
            conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=90)
            conn.connect()
            barrier.wait(timeout=30)
            conn.request("POST", "/v1/completions", body=json.dumps(completion_body(4, prompt=f"Burst {i}:")),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            r.update(status=resp.status, retry_after=resp.getheader("Retry-After"), at=time.monotonic(),
                     body=json.loads(data))
            conn.close()
        except Exception as e:   # recorded: a lost request fails the test below
            r["error"] = repr(e)
        with done:
            results.append(r)
            done.notify_all()
    threads = [threading.Thread(target=fire, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait(timeout=30)
    released = time.monotonic()
    with done:
        done.wait_for(lambda: len(results) >= 32, timeout=20)
        early = list(results)
    print(f"     {len(early)} answers before the blocker hung up, the last after "
          f"{max(r.get('at', released) for r in early) - released:.2f} s")
    assert len(early) == 32, [(r["status"], r["error"]) for r in early]
    for r in early:
        assert r["status"] == 503 and r["retry_after"] and error_of(r["body"])["code"] == "server_overloaded", r
        assert r["at"] - released < 5, r["at"] - released
    # The gauge is published after each engine step: it reaches 8, one step late at most.
    wait_until(lambda: s.metrics()["swiftlet_num_requests_waiting"] == 8, 5, "8 requests waiting")
    blocker.shutdown(socket.SHUT_RDWR)
    blocker.close()
    deadline = time.monotonic() + 60
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "requests still unanswered 60 s after the blocker hung up"
    late = [r for r in results if r not in early]
    assert len(results) == n and len(late) == 8, [(r["status"], r["error"]) for r in late]
    for r in late:
        assert r["status"] == 200 and r["body"]["usage"]["completion_tokens"] == 4, r
    wait_until(lambda: sample(labelled(s), "swiftlet_request_success_total", finished_reason="abort") >= 1, 20,
               "the blocker counted as aborted")
    m = labelled(s)
    assert sample(m, "swiftlet_request_rejected_total", reason="server_overloaded") == 32, m


# MARK: HTTP edges (one shared server)

def test_pipelined_requests():
    """Two pipelined completions: the first answered (Connection: close), then EOF, never a hang.
    Two pipelined GET /health: both answered on the kept-alive connection."""
    s = shared()
    one = post_bytes("/v1/completions", json.dumps(completion_body(2)).encode())
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=20)
    try:
        sock.sendall(one + one)
        f = sock.makefile("rb")
        status, headers, body = read_response(f)
        assert status == 200 and headers.get("connection", "").lower() == "close", (status, headers)
        assert json.loads(body)["usage"]["completion_tokens"] == 2
        try:
            rest = f.read()
            how = "EOF"
        except ConnectionResetError:
            rest, how = b"", "reset"
        except (socket.timeout, TimeoutError):
            raise AssertionError("the connection hung after the first pipelined completion")
        print(f"     after the first completion: {how}")
        assert rest == b"", rest[:200]
    finally:
        sock.close()

    sock = socket.create_connection(("127.0.0.1", s.port), timeout=20)
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
        f = sock.makefile("rb")
        for _ in range(2):
            resp = read_response(f)
            assert resp is not None, "the connection closed before both /health answers"
            status, headers, body = resp
            assert status == 200 and json.loads(body)["status"] == "ok", (status, body)
    finally:
        sock.close()


def test_huge_headers_431():
    """10,000 header lines: 431 with OpenAI's body (request_header_fields_too_large)."""
    s = shared()
    data = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-h%d: v\r\n" % i for i in range(10000)) + b"\r\n"
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=20)

    def send():
        try:
            sock.sendall(data)
        except OSError:
            pass   # the server may answer and close before reading everything
    sender = threading.Thread(target=send, daemon=True)
    try:
        sender.start()
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        sender.join(timeout=20)
        print(f"     {received[:200]!r}")
        status, headers, body = read_response(io.BytesIO(received))
        assert status == 431, (status, body)
        assert error_of(body)["code"] == "request_header_fields_too_large", body
    finally:
        sock.close()
    m = labelled(s)
    assert sample(m, "swiftlet_http_refused_total", reason="headers_too_large") >= 1


def test_404_405_and_model_retrieve():
    s = shared()
    status, _, body = request(s, "GET", "/v1/nope")
    assert status == 404 and error_of(body)["code"] == "not_found", (status, body)
    status, headers, body = request(s, "POST", "/v1/models", body={})
    assert status == 405 and headers.get("allow") == "GET", (status, headers, body)
    error_of(body)
    status, headers, body = request(s, "GET", "/v1/completions")
    assert status == 405 and headers.get("allow") == "POST", (status, headers, body)
    error_of(body)
    client = client_for(s)
    m = client.models.retrieve(NAME)
    assert m.id == NAME and m.object == "model", m
    try:
        client.models.retrieve("nope")
        raise AssertionError("expected NotFoundError")
    except openai.NotFoundError as e:
        assert e.status_code == 404, e


def test_json_edges():
    """A lone surrogate escape and a number too large for a double: 400 saying so."""
    s = shared()
    status, _, body = request(s, "POST", "/v1/completions",
                              body=b'{"model": "' + NAME.encode() + b'", "prompt": "a\\ud800b", "max_tokens": 2}')
    assert status == 400 and "surrogate" in error_of(body)["message"], (status, body)
    status, _, body = request(s, "POST", "/v1/completions",
                              body=b'{"model": "' + NAME.encode() + b'", "prompt": "hi", "max_tokens": 2, "temperature": 1e999}')
    assert status == 400 and "too large" in error_of(body)["message"], (status, body)


# MARK: API keys

def test_api_key_from_file_and_environment():
    """--api-key-file (key plus newline) and SWIFTLET_API_KEY: 401 without the key, 200 with it;
    the key is not on the command line."""
    with tempfile.NamedTemporaryFile("w", suffix=".key", delete=False) as f:
        f.write("file-key-7\n")
        path = f.name
    try:
        for key, extra, env in (("file-key-7", ("--api-key-file", path), None), ("k2", (), {"SWIFTLET_API_KEY": "k2"})):
            with Server(*extra, env=env) as s:
                with open(f"/proc/{s.process.pid}/cmdline", "rb") as c:
                    cmdline = c.read()
                assert key.encode() not in cmdline, cmdline
                status, _, body = request(s, "POST", "/v1/completions", body=completion_body(2))
                assert status == 401 and error_of(body)["code"] == "invalid_api_key", (status, body)
                status, _, body = request(s, "POST", "/v1/completions", body=completion_body(2),
                                          headers={"Authorization": "Bearer " + key})
                assert status == 200 and body["usage"]["completion_tokens"] == 2, (status, body)
                assert client_for(s, key).models.list().data[0].id == NAME
    finally:
        os.unlink(path)


# MARK: OpenAI semantics (shared server)

def test_openai_defaults():
    """No seed and no temperature: temperature 1 with a fresh seed (three answers not all equal);
    the same seed repeats itself; no max_tokens: 16."""
    client = client_for(shared())
    unseeded = [client.completions.create(model=NAME, prompt="My favourite animal is", max_tokens=16,
                                          extra_body={"ignore_eos": True}).choices[0].text for _ in range(3)]
    assert len(set(unseeded)) > 1, unseeded
    seeded = [client.completions.create(model=NAME, prompt="My favourite animal is", max_tokens=16, seed=1234,
                                        temperature=1, extra_body={"ignore_eos": True}).choices[0].text for _ in range(2)]
    assert seeded[0] == seeded[1], seeded
    r = client.completions.create(model=NAME, prompt="My favourite animal is")
    assert r.usage.completion_tokens <= 16, r.usage
    r = client.completions.create(model=NAME, prompt="My favourite animal is", extra_body={"ignore_eos": True})
    assert r.usage.completion_tokens == 16, r.usage


def expect_bad(param, call):
    try:
        call()
    except openai.BadRequestError as e:
        assert e.status_code == 400 and e.param == param, (param, e)
        return
    raise AssertionError(f"expected 400 naming '{param}'")


def test_unsupported_parameters_refused():
    s = shared()
    client = client_for(s)
    messages = [{"role": "user", "content": "Hi"}]
    tool = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {}}}}
    expect_bad("tools", lambda: client.chat.completions.create(model=NAME, messages=messages, max_tokens=2, tools=[tool]))
    expect_bad("response_format", lambda: client.chat.completions.create(model=NAME, messages=messages, max_tokens=2,
                                                                         response_format={"type": "json_object"}))
    expect_bad("suffix", lambda: client.completions.create(model=NAME, prompt=PROMPT, max_tokens=2, suffix="x"))
    expect_bad("best_of", lambda: client.completions.create(model=NAME, prompt=PROMPT, max_tokens=2, best_of=3))
    expect_bad("foo", lambda: client.completions.create(model=NAME, prompt=PROMPT, max_tokens=2, extra_body={"foo": 1}))
    r = client.chat.completions.create(model=NAME, messages=messages, max_tokens=2, response_format={"type": "text"})
    assert r.usage.completion_tokens >= 1

    # logit_bias: responses carry token texts, not ids, so a token id is drawn (seeded) and its text
    # taken from the server (a one-token prompt echoed, minus the greedy token generated after it),
    # one that is not the unbiased greedy first token; then +100 on it.
    rng = random.Random(11)
    first = client.completions.create(model=NAME, prompt=PROMPT, max_tokens=1, temperature=0,
                                      logprobs=1).choices[0].logprobs.tokens[0]
    for _ in range(20):
        token = rng.randrange(1000, 40000)
        echoed = client.completions.create(model=NAME, prompt=[token], max_tokens=1, temperature=0, echo=True).choices[0].text
        after = client.completions.create(model=NAME, prompt=[token], max_tokens=1, temperature=0).choices[0].text
        assert echoed.endswith(after), (echoed, after)
        piece = echoed[:len(echoed) - len(after)]
        if piece.strip() and piece.isascii() and piece.isprintable() and piece != first:
            break
    else:
        raise AssertionError("no plain-text token among 20 drawn")
    for temperature in (0, 1):
        r = client.completions.create(model=NAME, prompt=PROMPT, max_tokens=8, temperature=temperature, seed=5, logprobs=1,
                                      logit_bias={str(token): 100})
        assert r.choices[0].logprobs.tokens == [piece] * 8, (token, piece, r.choices[0].logprobs.tokens)
        assert r.choices[0].text == piece * 8, r.choices[0].text
    r = client.completions.create(model=NAME, prompt=PROMPT, max_tokens=4, temperature=0, echo=True)
    assert r.choices[0].text.startswith(PROMPT) and len(r.choices[0].text) > len(PROMPT), r.choices[0].text
    expect_bad("echo", lambda: client.completions.create(model=NAME, prompt=PROMPT, max_tokens=2, echo=True, logprobs=1))


def test_cancelled_stream_counted():
    """A stream abandoned after 5 chunks is counted as an abort with its tokens and its time."""
    s = shared()
    before = labelled(s)
    r = loadtest.one_request(s.url, NAME, "Once upon a time", 500, False, None, 30, hang_up_after=5, ignore_eos=True)
    assert r.kind == "disconnected", r.kind
    aborts = sample(before, "swiftlet_request_success_total", finished_reason="abort")
    after = wait_until(lambda: (lambda m: m if sample(m, "swiftlet_request_success_total", finished_reason="abort") >= aborts + 1
                                else None)(labelled(s)), 15, "the abort in /metrics")
    assert sample(after, "swiftlet_request_success_total", finished_reason="abort") == aborts + 1
    tokens = sample(after, "swiftlet_generation_tokens_total") - sample(before, "swiftlet_generation_tokens_total")
    latency = sample(after, "swiftlet_e2e_request_latency_seconds_sum") - sample(before, "swiftlet_e2e_request_latency_seconds_sum")
    print(f"     abort counted with {tokens:.0f} tokens, {latency:.3f} s")
    assert tokens >= 5 and latency > 0, (tokens, latency)


# MARK: process

def test_json_request_log_and_level():
    with Server("--log-format", "json") as s:
        status, _, body = request(s, "POST", "/v1/completions", body=completion_body(3))
        assert status == 200

        def line():
            for text in s.output().splitlines():
                try:
                    o = json.loads(text)
                except ValueError:
                    continue
                if o.get("message") == "request" and o.get("path") == "/v1/completions":
                    return o
        o = wait_until(line, 10, "the request's log line")
        print("    ", json.dumps(o, sort_keys=True)[:300])
        assert o["status"] == 200 and o["prompt_tokens"] == 5 and o["generated_tokens"] == 3, o
        for key in ("ttft_s", "queue_s", "request_id", "client"):
            assert key in o, (key, o)
    with Server("--log-level", "error") as s:
        status, _, _ = request(s, "POST", "/v1/completions", body=completion_body(3))
        assert status == 200
        wait_until(lambda: s.metrics()["swiftlet_request_success_total"] >= 1, 10, "the request to be counted")
        assert s.stop() == 0
        out = s.output()
        assert not re.search(r"swiftlet\.server: request\b", out), out


def test_bind_failure_exits_without_serving():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        p = subprocess.run([BINARY, "serve", "--model", f"{NAME}={MODEL}", "--port", str(taken.getsockname()[1])],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        out = p.stdout.decode(errors="replace")
        print(f"     exit {p.returncode}: {out.strip().splitlines()[-1] if out.strip() else ''}")
        assert p.returncode != 0, out
        assert "serving" not in out, out
    finally:
        taken.close()


def test_second_sigint_hurries_the_drain():
    with Server("--shutdown-timeout", "60", "--ctx", "4096") as s:
        result = {}
        stream = threading.Thread(target=lambda: result.update(r=loadtest.one_request(
            s.url, NAME, "Once upon a time", 3000, False, None, 90, ignore_eos=True)), daemon=True)
        stream.start()
        wait_until(lambda: s.metrics()["swiftlet_num_requests_running"] == 1, 20, "the stream to run")
        s.signal(signal.SIGINT)
        wait_until(lambda: "shutting down" in s.output(), 10, "'shutting down' in the log")
        start = time.monotonic()
        s.signal(signal.SIGINT)
        code = s.wait(timeout=20)
        elapsed = time.monotonic() - start
        stream.join(timeout=20)
        print(f"     exit {code} {elapsed:.2f} s after the second SIGINT; the stream: {result.get('r') and result['r'].kind}")
        assert code == 0 and elapsed < 10, (code, elapsed)
        assert "stopped:" in s.output()


if __name__ == "__main__":
    try:
        run_tests([test_flood_beyond_fd_limit, test_slowloris_closed_after_idle_timeout, test_body_timeout_408,
                   test_burst_admission_is_exact, test_pipelined_requests, test_huge_headers_431,
                   test_404_405_and_model_retrieve, test_json_edges, test_api_key_from_file_and_environment,
                   test_openai_defaults, test_unsupported_parameters_refused, test_cancelled_stream_counted,
                   test_json_request_log_and_level, test_bind_failure_exits_without_serving,
                   test_second_sigint_hurries_the_drain])
    finally:
        if _shared is not None:
            _shared.__exit__()
