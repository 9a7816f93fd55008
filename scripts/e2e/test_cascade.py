"""The cascade route on the real binary: a student served by one `swiftlet serve`, escalating to a
teacher served by another (an upstream OpenAI-compatible URL). The teacher is killed with SIGKILL
in the middle of a load test: no request may hang or fail; escalations before the kill are the
teacher's answers, after it the student's, flagged `escalation_error`. The official openai client
reads the answering model from the response."""
import concurrent.futures
import json
import signal
import threading
import time
import urllib.request

import openai
from harness import MODEL, NAME, Server, run_tests

REQUESTS = 40
KILL_AFTER = 12


def post(url, body, timeout=60):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        status, headers, raw = r.status, dict(r.headers), r.read().decode()
    if body.get("stream"):
        events = [e for e in raw.split("\n\n") if e.strip()]
        assert events[-1] == "data: [DONE]", events[-3:]
        chunks = [json.loads(e[len("data: "):]) for e in events[:-1]]
        cascade = next(c["cascade"] for c in reversed(chunks) if "cascade" in c)
        text = "".join(ch.get("delta", {}).get("content", "") for c in chunks for ch in c["choices"])
        return status, headers, cascade, chunks[0]["model"], text
    o = json.loads(raw)
    return status, headers, o["cascade"], o["model"], o["choices"][0]["message"]["content"]


def cascade_server(teacher, *extra):
    return Server("--student", f"{NAME}={MODEL}", "--teacher", teacher.url + "/v1", "--teacher-model", "teacher",
                  "--teacher-attempts", "3", "--teacher-timeout", "20", "--cascade-threshold", "1", *extra)


def test_killed_teacher_during_load():
    """Every request escalates (threshold 1). Six clients send 40 chats, half streamed; after 12
    answers the teacher gets SIGKILL. All 40 are answered 200; every answer says who answered;
    none after the kill came from the teacher; the failed escalations are counted in /metrics."""
    teacher = Server(name="teacher")
    with cascade_server(teacher) as s:
        done = []
        lock = threading.Lock()
        killed_at = [None]

        def one(i):
            body = {"model": "cascade", "messages": [{"role": "user", "content": f"Give me fact number {i} about the sea."}],
                    "max_tokens": 12, "temperature": 0, "stream": i % 2 == 1}
            start = time.time()
            status, headers, cascade, model, text = post(s.url + "/v1/chat/completions", body)
            with lock:
                done.append(i)
                if len(done) == KILL_AFTER:
                    teacher.process.send_signal(signal.SIGKILL)
                    killed_at[0] = time.time()
            return start, time.time(), status, headers, cascade, model, text

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            results = list(pool.map(one, range(REQUESTS)))
        teacher.stop()
        assert len(results) == REQUESTS and all(r[2] == 200 for r in results)
        by_teacher = [r for r in results if r[4]["answered_by"] == "teacher"]
        flagged = [r for r in results if r[4]["answered_by"] == "student"]
        assert all(r[4].get("escalation_error") for r in flagged), [r[4] for r in flagged]
        assert all(r[5] == "teacher" and r[3].get("X-Swiftlet-Answered-By") == "teacher" for r in by_teacher)
        assert all(r[5] == NAME and r[3].get("X-Swiftlet-Escalation") == "failed" for r in flagged)
        assert len(by_teacher) >= KILL_AFTER - 6 and len(flagged) >= REQUESTS - KILL_AFTER - 6, (len(by_teacher), len(flagged))
        assert not [r for r in by_teacher if r[0] > killed_at[0]], "a request started after the kill was answered by the teacher"
        assert all(r[6] for r in results), "an empty answer"
        slowest = max(r[1] - r[0] for r in results)
        print(f"     {len(by_teacher)} answered by the teacher, {len(flagged)} by the student after the kill; slowest {slowest:.1f} s")
        m = s.metrics()
        assert m["swiftlet_cascade_requests_total"] == REQUESTS
        assert m["swiftlet_cascade_upstream_failures_total"] == len(flagged)


def test_openai_client_reads_the_answering_model():
    """The openai client, unmodified: a confident student (threshold 0) answers as itself; with
    threshold 1 the teacher does; `model` says which, both plain and streamed."""
    teacher = Server(name="teacher")
    try:
        for threshold, expected in (("0", NAME), ("1", "teacher")):
            with cascade_server(teacher, "--cascade-threshold", threshold) as s:
                client = openai.OpenAI(base_url=s.url + "/v1", api_key="none")
                r = client.chat.completions.create(model="cascade", messages=[{"role": "user", "content": "Name a colour."}],
                                                   max_tokens=8, temperature=0)
                assert r.model == expected, (r.model, expected)
                assert r.choices[0].message.content
                stream = client.chat.completions.create(model="cascade", messages=[{"role": "user", "content": "Name a colour."}],
                                                        max_tokens=8, temperature=0, stream=True)
                models = {chunk.model for chunk in stream}
                assert models == {expected}, models
                assert "cascade" in {m.id for m in client.models.list()}
    finally:
        teacher.stop()


if __name__ == "__main__":
    run_tests([test_killed_teacher_during_load, test_openai_client_reads_the_answering_model])
