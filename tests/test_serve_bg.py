"""`fastfeed serve-bg` as a user meets it: the real server on a loopback port (API,
bad requests, a stalled client, load, SIGTERM), its page in a real headless Chromium,
and `remove-bg --watch`."""

import concurrent.futures
import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed")
pytestmark = pytest.mark.slow

ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "test-artifacts")


def _photo_bytes(height=48, width=64, seed=0, fmt="PNG") -> bytes:
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), (40, 90, 160), np.uint8)
    image[height // 4: 3 * height // 4, width // 4: 3 * width // 4] = (230, 200, 60)
    image = np.clip(image + rng.integers(-10, 10, image.shape), 0, 255).astype(np.uint8)
    data = io.BytesIO()
    Image.fromarray(image).save(data, format=fmt)
    return data.getvalue()


class Server:
    def __init__(self, *options):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fastfeed", "serve-bg", "--port", "0", *options],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        assert "serving on http://127.0.0.1:" in line, (line, self.process.stderr.read())
        self.port = int(line.split("http://127.0.0.1:")[1].split("/")[0])

    def request(self, method, path, body=None, headers=None, timeout=120):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        result = response.status, dict(response.getheaders()), response.read()
        connection.close()
        return result

    def rss_kib(self) -> int:
        with open(f"/proc/{self.process.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=60)
        return self.process.returncode, out, err


@pytest.fixture(scope="module")
def server(tiny_model):
    server = Server("--model", tiny_model, "--deadline", "4", "--max-bytes", "400000",
                    "--max-pixels", "1000000")
    yield server
    server.stop()


def _multipart(data: bytes, name="photo.png", field="file"):
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
            f"filename=\"{name}\"\r\nContent-Type: image/png\r\n\r\n").encode() + data + \
        f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_cutouts_as_multipart_or_raw_body_with_each_option(server):
    photo = _photo_bytes()
    body, headers = _multipart(photo)
    for query, raw, mode in [("", False, "RGBA"), ("", True, "RGBA"),
                             ("?mask=true", True, "L"), ("?bg_color=255,255,255", False, "RGB"),
                             ("?refinement=guided&size=64&scales=1", True, "RGBA"),
                             ("?refinement=none&scales=0.8,1", False, "RGBA")]:
        status, answer_headers, answer = server.request(
            "POST", "/remove" + query, photo if raw else body, {} if raw else headers)
        assert status == 200, (query, answer)
        assert answer_headers["content-type"] == "image/png"
        image = Image.open(io.BytesIO(answer))
        assert image.size == (64, 48) and image.mode == mode, query
    status, _, answer = server.request("GET", "/health")
    health = json.loads(answer)
    assert status == 200 and health["status"] == "ok" and health["served"] >= 6


def _bomb() -> bytes:
    """A PNG whose header claims 30,000 x 30,000 pixels (900 MP) in a few hundred bytes."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("query, body, status, reason", [
    ("", b"not an image at all", 400, "not a readable image"),
    ("", _photo_bytes(fmt="PNG")[:200], 400, "not a readable image"),
    ("", _bomb(), 400, "pixels"),
    ("", b"", 400, "empty body"),
    ("?size=33", None, 400, "size: 33: use a value from 32 to 4096"),
    ("?size=x", None, 400, "size: 'x' is not an integer"),
    ("?scales=0", None, 400, "scales: '0': use 1 to 8 numbers"),
    ("?scales=nan", None, 400, "scales:"),
    ("?size=4096&scales=2", None, 400, "largest input would be 8192 px"),
    ("?bg_color=300,0,0", None, 400, "bg_color: '300,0,0': use R,G,B"),
    ("?refinement=magic", None, 400, "refinement: 'magic': use one of"),
    ("?mask=maybe", None, 400, "mask: 'maybe': use true or false"),
    ("?mask=1&bg_color=0,0,0", None, 400, "give one of them"),
    ("?colour=red", None, 400, "unknown parameter 'colour'"),
])
def test_every_bad_request_gets_a_4xx_with_one_line(server, query, body, status, reason):
    answer_status, _, answer = server.request(
        "POST", "/remove" + query, _photo_bytes() if body is None else body)
    error = json.loads(answer)["error"]
    assert answer_status == status and reason in error, error
    assert "\n" not in error and "Traceback" not in error
    assert server.request("GET", "/health")[0] == 200  # still serving


def test_malformed_multipart_too_large_bodies_and_a_stalled_client(server):
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    status, _, answer = server.request("POST", "/remove", b"garbage", headers)
    assert status == 400 and "malformed multipart" in json.loads(answer)["error"]
    body, headers = _multipart(b"")
    status, _, answer = server.request("POST", "/remove", body, headers)
    assert status == 400 and "empty" in json.loads(answer)["error"]
    status, _, answer = server.request("POST", "/remove", b"x" * 500000)
    assert status == 413 and "at most 400000" in json.loads(answer)["error"]
    # A client that announces 1,000 bytes, sends 10 and stops: answered at the deadline.
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as stalled:
        stalled.sendall(b"POST /remove HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
                        + b"0123456789")
        answer = stalled.recv(4096)
    assert b" 408 " in answer.split(b"\r\n")[0] and time.monotonic() - started < 25
    assert server.request("GET", "/health")[0] == 200
    status, _, answer = server.request("GET", "/nothing-here")
    assert status == 404 and "POST /remove" in json.loads(answer)["error"]


def test_the_page_and_the_openapi_description(server):
    status, headers, page = server.request("GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    text = page.decode()
    assert 'type="file"' in text and "checker" in text
    assert "http://" not in text and "https://" not in text  # nothing from outside
    status, _, description = server.request("GET", "/openapi.json")
    spec = json.loads(description)
    assert status == 200 and "/remove" in spec["paths"] and "/health" in spec["paths"]
    parameters = {p["name"] for p in spec["paths"]["/remove"]["post"]["parameters"]}
    assert parameters == {"mask", "bg_color", "refinement", "size", "scales"}
    assert server.request("GET", "/docs")[0] == 404  # Swagger's page loads a CDN


def test_under_load_only_deliberate_503s_and_memory_flat(tiny_model, capsys):
    # 2 workers and 6 waiting: 8 clients at a time all fit; then a burst of 40 at once
    # does not, and the overflow is told 503 with Retry-After.
    server = Server("--model", tiny_model, "--workers", "2", "--queue", "6")
    photo = _photo_bytes(96, 128)
    path = "/remove?scales=1&refinement=guided"
    try:
        for _ in range(3):  # warm: the model's first calls trace
            assert server.request("POST", path, photo)[0] == 200
        before = server.rss_kib()

        def one(_):
            start = time.perf_counter()
            status, headers, _ = server.request("POST", path, photo)
            return status, headers.get("retry-after"), time.perf_counter() - start
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(one, range(200)))
        wall = time.perf_counter() - started
        after = server.rss_kib()
        with concurrent.futures.ThreadPoolExecutor(40) as pool:
            burst = list(pool.map(one, range(40)))
    finally:
        code, out, _ = server.stop()
    assert [status for status, _, _ in results] == [200] * 200
    seconds = [s for _, _, s in results]
    p50, p95 = np.percentile(seconds, [50, 95])
    with capsys.disabled():
        print(f"\nserve-bg load (tiny model, 200 requests, 8 at a time, 2 workers): "
              f"p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
              f"{200 / wall:.1f} photos/s; RSS {before // 1024} -> {after // 1024} MiB")
    assert after < before + 200 * 1024  # no growth with the number of requests
    statuses = [status for status, _, _ in burst]
    assert set(statuses) == {200, 503} and statuses.count(200) >= 8
    assert all(retry == "1" for status, retry, _ in burst if status == 503)
    served = 203 + statuses.count(200)
    assert code == 0 and f"{served} cut-outs served, {statuses.count(503)} refused" in out


def test_sigterm_finishes_what_is_in_work(tiny_model):
    server = Server("--model", tiny_model)
    photo = _photo_bytes(480, 640)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(server.request, "POST", "/remove", photo)
        time.sleep(0.3)
        code, out, err = server.stop()
        status, _, answer = pending.result(timeout=60)
    assert status == 200 and Image.open(io.BytesIO(answer)).size == (640, 480)
    assert code == 0 and "stopped: 1 cut-outs served" in out, err


def _chromium():
    for browser in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(browser) and shutil.which("chromedriver"):
            return shutil.which(browser)
    return None


def test_the_page_in_a_real_browser(server, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium with chromedriver here (apt-get install chromium "
                    "chromium-driver; .ci/run does)")
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
                 "--window-size=1000,700"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False})
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.get(f"http://127.0.0.1:{server.port}/")
        photo = tmp_path / "shop photo.jpg"
        photo.write_bytes(_photo_bytes(240, 320, fmt="JPEG"))
        picker = driver.find_element(By.ID, "files")
        driver.execute_script("arguments[0].hidden = false;", picker)
        picker.send_keys(str(photo))
        link = WebDriverWait(driver, 120).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "a.download"))[0]
        assert link.get_attribute("download") == "shop photo.png"
        WebDriverWait(driver, 30).until(lambda d: d.execute_script(
            "const i = document.querySelector('img.result'); "
            "return i.complete && i.naturalWidth > 0;"))
        os.makedirs(ARTIFACTS, exist_ok=True)
        driver.save_screenshot(os.path.join(ARTIFACTS, "serve-bg-page.png"))
        link.click()
        saved = downloads / "shop photo.png"
        # Chromium reserves the name with an empty file and writes a .crdownload
        # beside it; the download is done when that is gone and the file has bytes
        WebDriverWait(driver, 30).until(lambda d: saved.exists() and saved.stat().st_size
                                        and not list(downloads.glob("*.crdownload")))
        image = Image.open(saved)
        assert image.mode == "RGBA" and image.size == (320, 240)
    finally:
        driver.quit()


def test_remove_bg_watch_picks_up_new_photos_even_written_slowly(tiny_model, tmp_path):
    inbox, out = tmp_path / "inbox", tmp_path / "out"
    inbox.mkdir()
    (inbox / "before.png").write_bytes(_photo_bytes(seed=1))
    process = subprocess.Popen(
        [sys.executable, "-m", "fastfeed", "remove-bg", "--watch", str(inbox), "--out",
         str(out), "--model", tiny_model, "--scales", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def wait_for(path, seconds=120):
            deadline = time.monotonic() + seconds
            while not path.exists() and time.monotonic() < deadline:
                assert process.poll() is None, process.stderr.read()
                time.sleep(0.2)
            return path.exists()
        assert wait_for(out / "before.png")
        (inbox / "sub").mkdir()
        (inbox / "sub" / "quick.jpg").write_bytes(_photo_bytes(seed=2, fmt="JPEG"))
        slow = _photo_bytes(seed=3)
        with open(inbox / "slow.png", "wb") as f:  # half, a pause, the rest
            f.write(slow[:len(slow) // 2])
            f.flush()
            time.sleep(2.0)
            f.write(slow[len(slow) // 2:])
        assert wait_for(out / "sub" / "quick.png") and wait_for(out / "slow.png")
        assert Image.open(out / "slow.png").mode == "RGBA"
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "stopped watching: 3 written" in stdout and "0 failed" in stdout
    assert not list(out.rglob("*.part"))


def test_bench_serve_bg_runs(tiny_model, tmp_path, capsys):
    from fastfeed import cli

    (tmp_path / "photos").mkdir()
    for k in range(2):
        (tmp_path / "photos" / f"{k}.png").write_bytes(_photo_bytes(seed=k))
    assert cli.main(["bench", "serve-bg", "--photos", str(tmp_path / "photos"),
                     "--requests", "6", "--concurrency", "3", "--model", tiny_model]) == 0
    out = capsys.readouterr().out
    assert "in process, one after another" in out and "6 requests 3 at a time" in out
    assert "server / in process" in out and "0 failed" in out
