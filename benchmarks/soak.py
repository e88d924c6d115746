"""A soak: many visitors of mixed traffic against one real server for a while, and what grows.

8 API clients (each its own session, so its own visitor): every family's generate in turn, a Lab session stepping,
a start → poll → stop training cycle, an evaluation. Every ``sample_s`` the server's resident memory, open file
descriptors, threads and the size of its temporary folders are read from /proc; at the end, per endpoint p50/p95
latency and the error count, and the RSS slope after ``warmup_s`` (MiB per minute and % over the measured span).
The server gets a private PLAYGROUND_HOME and GRADIO_TEMP_DIR, so the folders measured are its own.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from .server import ROOT, rss_mib

TRAIN_CYCLE = "/autoencoder_train"  # start (small), poll until running, stop


def _folder_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20 if path.exists() else 0.0


def _start(port: int, home: Path, temp: Path) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "PLAYGROUND_HOME": str(home),
           "GRADIO_TEMP_DIR": str(temp)}
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("app.py exited during start-up")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("app.py did not answer within 180 s")


def _percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return 1000 * values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def bench_soak(minutes: float, clients: int = 8, warmup_s: float = 300.0, sample_s: float = 10.0,
               port: int = 7893) -> dict[str, Any]:
    from gradio_client import Client

    scratch = Path(tempfile.mkdtemp(prefix="soak-"))
    home, temp = scratch / "home", scratch / "gradio"
    proc, url = _start(port, home, temp)
    stop = threading.Event()
    lock = threading.Lock()
    latency: dict[str, list[float]] = {}
    errors: list[str] = []
    samples: list[tuple[float, float, int, int, float]] = []  # t, RSS MiB, fds, threads, temp+home MiB

    def call(client: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            out = client.predict(*args, api_name=name, **kwargs)
        except Exception as exc:  # noqa: BLE001 - counted, not raised
            with lock:
                errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")
            return None
        with lock:
            latency.setdefault(name, []).append(time.perf_counter() - t)
        return out

    def visitor(i: int) -> None:
        c = Client(url, verbose=False, download_files=False, analytics_enabled=False)
        api = c.view_api(return_format="dict", print_info=False)["named_endpoints"]
        generates = sorted(n for n in api if n.endswith("_generate"))
        k = i
        if i % 4 == 0:  # each Lab visitor makes its own runs first
            call(c, "/gan2d_lab_reset")
        while not stop.is_set():
            role = i % 4
            if role == 0:  # a Lab session stepping
                call(c, "/gan2d_lab_step", 5)
            elif role == 1 and i == 1:  # one visitor trains, polls and stops, over and over
                if call(c, f"{TRAIN_CYCLE}_start", steps=200, batch_size=16, width=8) is not None:
                    for _ in range(20):
                        st = call(c, f"{TRAIN_CYCLE}_status") or {}
                        if st.get("status") != "running" or st.get("step", 0) > 20:
                            break
                        time.sleep(0.3)
                    call(c, f"{TRAIN_CYCLE}_stop")
                    time.sleep(1)
            elif role == 2:
                call(c, "/autoencoder_evaluate")
            else:
                call(c, generates[k % len(generates)])
            k += 1

    threads = [threading.Thread(target=visitor, args=(i,), daemon=True) for i in range(clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    try:
        while time.perf_counter() - t0 < minutes * 60:
            time.sleep(sample_s)
            pid = proc.pid
            fds = len(os.listdir(f"/proc/{pid}/fd"))
            n_threads = len(os.listdir(f"/proc/{pid}/task"))
            samples.append((time.perf_counter() - t0, rss_mib(pid), fds, n_threads,
                            _folder_mib(temp) + _folder_mib(home)))
    finally:
        stop.set()
        for th in threads:
            th.join(120)
        proc.terminate()
        proc.wait(60)
    after = [s for s in samples if s[0] >= warmup_s] or samples
    span_min = (after[-1][0] - after[0][0]) / 60 if len(after) > 1 else 0.0
    slope = (after[-1][1] - after[0][1]) / span_min if span_min else 0.0
    out: dict[str, Any] = {
        "soak_minutes": minutes, "soak_clients": clients, "soak_calls": sum(len(v) for v in latency.values()),
        "soak_errors": len(errors),
        "soak_rss_mib_at": " ".join(f"{s[0] / 60:.0f}min:{s[1]:.0f}" for s in samples[:: max(1, len(samples) // 8)]),
        "soak_rss_growth_after_warmup_pct": 100 * (after[-1][1] - after[0][1]) / after[0][1] if after else 0.0,
        "soak_rss_slope_mib_per_min": slope,
        "soak_fds_first_last": f"{samples[0][2]} → {samples[-1][2]}" if samples else "",
        "soak_threads_first_last": f"{samples[0][3]} → {samples[-1][3]}" if samples else "",
        "soak_folders_mib_first_last": f"{samples[0][4]:.1f} → {samples[-1][4]:.1f}" if samples else "",
    }
    for name, values in sorted(latency.items()):
        out[f"soak {name} p50/p95 ms"] = f"{_percentile(values, 0.5):.0f} / {_percentile(values, 0.95):.0f} " \
                                         f"(n={len(values)}, median {1000 * statistics.median(values):.0f})"
    for e in errors[:5]:
        print("soak error:", e, file=sys.stderr)
    return out
