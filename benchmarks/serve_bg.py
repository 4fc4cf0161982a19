"""`fastfeed bench serve-bg`: the HTTP server under load beside remove-bg's own rate on
the same photos, on the same cores: the server's overhead per photo.

    fastfeed bench serve-bg                       # $FASTFEED_DATA/real_dev's photos
    fastfeed bench serve-bg --photos DIR --requests 200 --concurrency 8

First the photos are cut out one after another in this process
(``background.remove_background``, warm: what `remove-bg` does per photo), then a real
`fastfeed serve-bg` on a loopback port gets ``--requests`` POSTs of the same photos,
``--concurrency`` at a time (the server's default workers: the cores). Printed:
photos/s of both, the server's p50/p95 latency, its 503s, its memory before and after
each third of the requests (flat once warm, or growing).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import os
import subprocess
import sys
import time

import numpy as np

from fastfeed import files, images

DEFAULT_PHOTOS = files.data_path("real_dev", "images")  # "" without FASTFEED_DATA


def _rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="fastfeed bench serve-bg", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", default=DEFAULT_PHOTOS, help="a folder of photos")
    p.add_argument("--count", type=int, default=20, help="photos used (the first N)")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--model", help="model.keras (default: the shipped model)")
    args = p.parse_args(argv)
    if min(args.count, args.requests, args.concurrency) < 1:
        print("fastfeed bench serve-bg: --count, --requests and --concurrency are at "
              "least 1.", file=sys.stderr)
        return 2
    try:
        paths = images.image_paths(args.photos)[:args.count]
    except images.ImageError as error:
        print(f"fastfeed bench serve-bg: {error}", file=sys.stderr)
        return 2
    bodies = [open(path, "rb").read() for path in paths]
    from fastfeed import background

    model = background.load_model(args.model)
    for data in bodies[:2]:  # warm: each input size's first call traces
        background.remove_background(data, model=model)
    rounds = max(1, args.requests // len(bodies))
    start = time.perf_counter()
    for _ in range(rounds):
        for data in bodies:
            background.remove_background(data, model=model)
    alone = rounds * len(bodies) / (time.perf_counter() - start)
    print(f"{len(bodies)} photos of {os.path.normpath(args.photos)}; in process, one "
          f"after another: {alone:.2f} photos/s", flush=True)

    command = [sys.executable, "-m", "fastfeed", "serve-bg", "--port", "0",
               *(["--model", args.model] if args.model else [])]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    port = int(line.split("http://127.0.0.1:")[1].split("/")[0])

    def post(number):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        started = time.perf_counter()
        connection.request("POST", "/remove", bodies[number % len(bodies)])
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status, time.perf_counter() - started
    try:
        for number in range(2):
            post(number)
        memory = [_rss_mib(server.pid)]  # before, then after each third of the requests
        results, start = [], time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
            for third in range(3):
                numbers = range(third * args.requests // 3, (third + 1) * args.requests // 3)
                results += list(pool.map(post, numbers))
                memory.append(_rss_mib(server.pid))
        wall = time.perf_counter() - start
    finally:
        server.terminate()
        server.communicate(timeout=120)
    served = [seconds for status, seconds in results if status == 200]
    busy = sum(status == 503 for status, _ in results)
    other = len(results) - len(served) - busy
    rate = len(served) / wall
    p50, p95 = np.percentile(served, [50, 95]) if served else (float("nan"),) * 2
    print(f"serve-bg, {args.requests} requests {args.concurrency} at a time: "
          f"{rate:.2f} photos/s, p50 {p50:.2f} s, p95 {p95:.2f} s; {busy} told 503, "
          f"{other} failed; RSS {' -> '.join(f'{m:.0f}' for m in memory)} MiB (before, "
          f"then after each third)")
    print(f"server / in process: {rate / alone:.2f}x the photos/s "
          f"({1 / rate - 1 / alone:+.3f} s per photo)")
    return 1 if other else 0
