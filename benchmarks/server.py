"""The app as a server: cold start of ``python app.py`` to HTTP 200, resident memory, API latency, and many API
clients at once."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_app(port: int) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "GRADIO_SERVER_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    while True:
        if proc.poll() is not None:
            raise RuntimeError("app.py exited during start-up")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.05)


def bench_app(repeats: int) -> dict[str, float]:
    """Cold start of ``python app.py`` to HTTP 200, its RSS, and API latency of a 64-image grid."""
    from gradio_client import Client

    t0 = time.perf_counter()
    proc, url = start_app(7891)
    try:
        cold = time.perf_counter() - t0
        rss_start = rss_mib(proc.pid)
        client = Client(url, verbose=False, download_files=False, analytics_enabled=False)
        client.predict("digits", 64, 0, 1.0, api_name="/autoencoder_generate")
        times = []
        for i in range(repeats):
            t = time.perf_counter()
            client.predict("digits", 64, i, 1.0, api_name="/autoencoder_generate")
            times.append(time.perf_counter() - t)
        return {"cold_start_s": cold, "rss_after_start_mib": rss_start, "rss_after_inference_mib": rss_mib(proc.pid),
                "api_grid64_ms_median": 1000 * statistics.median(times)}
    finally:
        proc.terminate()
        proc.wait(10)


def bench_concurrency(seconds: float, clients: int, only: str = "") -> dict[str, float]:
    """``clients`` API clients calling every family's generate endpoint in turn for ``seconds`` while one lab
    session steps: errors, latency percentiles, calls/s and the server's peak resident memory."""
    import threading

    from gradio_client import Client

    proc, url = start_app(7892)
    try:
        probe = Client(url, verbose=False, download_files=False, analytics_enabled=False)
        names = sorted(n for n in probe.view_api(return_format="dict", print_info=False)["named_endpoints"]
                       if n.endswith("_generate") and (not only or n.strip("/") in only.split(",")))
        for n in names:  # warm every model once, so the figures are steady state
            probe.predict(api_name=n)
        lab = Client(url, verbose=False, download_files=False, analytics_enabled=False)
        lab.predict(api_name="/gan2d_lab_reset")
        stop, lock = threading.Event(), threading.Lock()
        times: list[float] = []
        errors: list[str] = []
        peak = [rss_mib(proc.pid)]
        lab_frames = [0]

        def user(i: int) -> None:
            c = Client(url, verbose=False, download_files=False, analytics_enabled=False)
            k = i
            while not stop.is_set():
                t = time.perf_counter()
                try:
                    c.predict(api_name=names[k % len(names)])
                    with lock:
                        times.append(time.perf_counter() - t)
                except Exception as exc:  # noqa: BLE001 - counted, not raised
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                k += 1

        def lab_loop() -> None:
            while not stop.is_set():
                lab.predict(api_name="/gan2d_lab_step")
                lab_frames[0] += 1

        threads = [threading.Thread(target=user, args=(i,)) for i in range(clients)]
        threads.append(threading.Thread(target=lab_loop))
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        while time.perf_counter() - t0 < seconds:
            time.sleep(0.5)
            peak[0] = max(peak[0], rss_mib(proc.pid))
        stop.set()
        for th in threads:
            th.join(120)
        elapsed = time.perf_counter() - t0
        times.sort()
        pct = lambda q: 1000 * times[min(len(times) - 1, int(q * len(times)))] if times else float("nan")  # noqa: E731
        return {"concurrency_clients": clients, "concurrency_calls": len(times), "concurrency_errors": len(errors),
                "concurrency_p50_ms": pct(0.5), "concurrency_p99_ms": pct(0.99),
                "concurrency_calls_per_s": len(times) / elapsed,
                "concurrency_lab_frames_per_s": lab_frames[0] / elapsed,
                "concurrency_server_peak_rss_mib": peak[0]}
    finally:
        proc.terminate()
        proc.wait(10)
