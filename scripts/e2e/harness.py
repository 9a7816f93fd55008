"""Starts the real `swiftlet serve` binary on 127.0.0.1 and gives the tests its address,
its /metrics parsed with prometheus_client, and a way to stop it by signal."""
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import traceback
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("SWIFTLET_BIN", os.path.join(ROOT, ".build", "release", "swiftlet"))
MODEL = os.environ.get("SWIFTLET_MODEL", os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
NAME = "smol"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, *extra, name=NAME, api_key=None, fd_limit=None, env=None):
        """`fd_limit`: the child's RLIMIT_NOFILE, soft and hard (so it cannot raise it); `env`:
        environment variables added to this process's for the child."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = name
        self.api_key = api_key
        args = [BINARY, "serve", "--model", f"{name}={MODEL}", "--port", str(self.port), *extra]
        if api_key:
            args += ["--api-key", api_key]
        self.log = open(os.path.join("/tmp", f"swiftlet-e2e-{self.port}.log"), "w+")
        limit = None
        if fd_limit is not None:
            def limit():
                resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=limit,
                                        env={**os.environ, **env} if env else None)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"swiftlet serve exited with {self.process.returncode}: {self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("swiftlet serve did not answer /health within 120 s")

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def get(self, path):
        req = urllib.request.Request(self.url + path)
        if self.api_key:
            req.add_header("Authorization", "Bearer " + self.api_key)
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()

    def metrics(self):
        """Samples of /metrics by name (labels dropped: one model is served), parsed by the
        Prometheus client's own parser, which raises on malformed text."""
        _, text = self.get("/metrics")
        samples = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                samples.setdefault(s.name, 0)
                samples[s.name] += s.value
        return samples

    def signal(self, sig=signal.SIGTERM):
        self.process.send_signal(sig)

    def wait(self, timeout):
        return self.process.wait(timeout=timeout)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        self.log.close()


def run_tests(tests):
    """Runs each test function, prints a line per test, exits 1 if any failed."""
    failed = 0
    for test in tests:
        start = time.time()
        try:
            test()
            print(f"  pass  {test.__name__} ({time.time() - start:.1f} s)", flush=True)
        except Exception:
            failed += 1
            print(f"  FAIL  {test.__name__} ({time.time() - start:.1f} s)", flush=True)
            traceback.print_exc()
    print(f"{len(tests) - failed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)
