"""The HTML report as Chromium draws it: no two texts of a chart overlap, with a sweep whose
points coincide (equal figures for several rows, which used to print their labels over each
other) and every section present (throughput, instances, volume, sweep, distillation payback)."""
import json
import os
import subprocess
import sys
import tempfile

from harness import BINARY, ROOT, run_tests

ROWS = [("source, exact", 34.86, 0.30), ("source, auto", 34.95, 0.07), ("q8_0", 34.95, 0.07), ("q4_1", 34.95, 0.07),
        ("q5_k_m", 34.97, 0.071), ("q4_0", 43.2, 0.069)]


def test_report_charts_have_no_overlapping_text():
    with tempfile.TemporaryDirectory() as tmp:
        bench, sweep, html = (os.path.join(tmp, n) for n in ("bench.json", "sweep.json", "report.html"))
        with open(bench, "w") as f:
            for c, pp, tg in ((1, 600, 90), (4, 900, 250), (16, 1000, 420)):
                f.write(json.dumps({"concurrency": c, "n_prompt": 512, "n_gen": 128, "prompt_tokens_per_second": pp,
                                    "gen_tokens_per_second": tg, "tpot_ms_p95": 10 + c,
                                    "host": {"cpu": "AMD EPYC", "architecture": "x86_64", "cores": 2, "features": [], "memory_bytes": 1}}) + "\n")
        with open(sweep, "w") as f:
            json.dump({"budget_percent": 2, "recommended": "q4_1", "source": {"path": "models/x.gguf", "type": "q4_1"},
                       "text": "botchan.txt", "task": "wikihow.jsonl", "deltas_measure": "re-quantizing a q4_1 file",
                       "speed_basis": "single stream",
                       "rows": [{"label": l, "type": l, "perplexity": p, "accuracy": 0.38, "dollars_per_million_output": d} for l, p, d in ROWS]}, f)
        r = subprocess.run([BINARY, "report", "--bench", bench, "--instance", "c7a.large", "--sweep", sweep, "--tokens-per-day", "30000000",
                            "--teacher-monthly", "18000", "--student-fraction", "0.2", "--one-time", "9000", "-o", html],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        page = open(html, encoding="utf-8").read()
        assert page.count("<svg") == 5 and "Distillation payback" in page and "single stream" in page
        check = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "check-report-layout"), html], capture_output=True, text=True, timeout=180)
        print("    " + check.stdout.strip().replace("\n", "\n    "))
        assert check.returncode == 0, check.stdout + check.stderr


if __name__ == "__main__":
    run_tests([test_report_charts_have_no_overlapping_text])
