"""The streams through a tf.data service on loopback: a dispatcher and two workers, each
a `fastfeed serve-data` process (free ports chosen at run time, every server stopped at
the end)."""

import hashlib
import os

import cv2
import numpy as np
import pytest

from fastfeed.compose import composites, faces, service
from fastfeed.compose.feed import Feed

FLAT = composites.Recipe(shadow_probability=0.0)


@pytest.fixture(scope="module")
def cluster():
    """``(dispatcher address, [worker processes])``, stopped after the module."""
    dispatcher = service.ServerProcess("dispatcher")
    workers = [service.ServerProcess("worker", dispatcher.address) for _ in range(2)]
    yield dispatcher.address, workers
    for server in workers + [dispatcher]:
        assert server.stop() == 0


@pytest.fixture
def people(tmp_path):
    found = {}
    for p in range(4):
        folder = tmp_path / f"person_{p}"
        folder.mkdir()
        for k in range(3):
            path = folder / f"person_{p}_{k + 1:04d}.jpg"
            cv2.imwrite(str(path), np.full((24, 24, 3), (30 * p, 60 * k, 90), np.uint8))
            found.setdefault(f"person_{p}", []).append(str(path))
    return found


def _digest(*arrays):
    return hashlib.sha1(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)).hexdigest()


def _pair_digests(stream, count):
    return [_digest(x["image1"], x["image2"], y) for x, y in stream.take(count)]


def _composite_digests(stream, count):
    return [_digest(b["image"], b["mask"]) for b in stream.take(count)]


@pytest.mark.slow
def test_pair_batches_through_the_service_are_the_local_ones(cluster, people):
    address, _ = cluster
    kwargs = dict(image_size=16, batch_size=4, seed=3, augment="flip_lr|hue(0.05)")
    local = _pair_digests(faces.pair_stream(people, **kwargs), 60)
    served = _pair_digests(faces.pair_stream(people, feed=Feed(service=address), **kwargs), 20)
    assert len(set(served)) == 20  # each batch once: dynamic sharding, not one per worker
    assert set(served) <= set(local)


@pytest.mark.slow
def test_composite_batches_through_the_service_are_the_local_ones(cluster):
    address, _ = cluster
    kwargs = dict(image_size=32, batch_size=3, seed=5, recipe=FLAT, augment="flip_lr")
    local = _composite_digests(composites.composite_stream(**kwargs), 40)
    served = _composite_digests(
        composites.composite_stream(feed=Feed(service=address), **kwargs), 12)
    assert len(set(served)) == 12 and set(served) <= set(local)


def test_a_shared_job_splits_the_stream_between_trainers(cluster, people):
    address, _ = cluster
    kwargs = dict(image_size=16, batch_size=4, seed=1,
                  feed=Feed(service=address, job_name="shared"))
    first = iter(faces.pair_stream(people, **kwargs))
    second = iter(faces.pair_stream(people, **kwargs))
    got = [[_digest(x["image1"], x["image2"], y) for x, y in (next(it) for _ in range(8))]
           for it in (first, second)]
    assert not set(got[0]) & set(got[1])  # no batch goes to both


@pytest.mark.slow
def test_a_stopped_worker_does_not_stop_the_consumer(cluster, people):
    address, _ = cluster
    extra = service.ServerProcess("worker", address)
    stream = iter(faces.pair_stream(people, image_size=16, batch_size=4, seed=2,
                                    feed=Feed(service=address)))
    for _ in range(5):
        next(stream)
    assert extra.stop() == 0
    later = [next(stream) for _ in range(10)]
    assert len(later) == 10


@pytest.mark.slow
def test_shards_split_the_batch_numbers(people):
    kwargs = dict(image_size=16, batch_size=4, seed=3)
    local = _pair_digests(faces.pair_stream(people, **kwargs), 6)
    sharded = faces.pair_stream(people, feed=Feed(shard=(2, 1)), **kwargs)
    assert _pair_digests(sharded, 3) == local[1::2]
    local = _composite_digests(composites.composite_stream(image_size=32, batch_size=2), 4)
    shard = composites.composite_stream(image_size=32, batch_size=2,
                                        feed=Feed(shard=(2, 0), start=1))
    assert _composite_digests(shard, 1) == local[2:3]  # resumed at its own batch 1
    with pytest.raises(ValueError, match="0 <= index < count"):
        service.batch_numbers(0, (2, 2))


def test_clear_errors_for_the_service(people):
    with pytest.raises(ValueError, match="HOST:PORT"):
        faces.pair_stream(people, image_size=16, feed=Feed(service="nowhere"))
    pytest.importorskip("albumentations")
    import albumentations as A

    with pytest.raises(ValueError, match="albumentations.*native ops"):
        composites.composite_stream(image_size=32, augment=A.HorizontalFlip(),
                                   feed=Feed(service="localhost:5050"))
    assert service.address("grpc://a:1") == service.address("a:1") == "grpc://a:1"


# ------------------------------------------------------------------------ training
@pytest.mark.slow
def test_train_reads_its_stream_from_the_service(cluster, tmp_path):
    from fastfeed import train

    address, _ = cluster
    config = train.make_config("composites", {"data_service": address}, smoke=True)
    metrics = train.run(config, str(tmp_path / "run"))
    assert metrics["test"]["images"] == 8
    with pytest.raises(train.ConfigError, match="HOST:PORT"):
        train.make_config("composites", {"data_service": "no-port"}, smoke=True)


@pytest.mark.slow
def test_two_worker_multiworker_training_on_localhost(tmp_path):
    """Two processes, one MultiWorkerMirroredStrategy (TF_CONFIG on loopback): they
    end with the same weights, and each wrote its own run folder."""
    import json
    import os
    import subprocess
    import sys

    from fastfeed import background

    workers = [f"127.0.0.1:{service.free_port()}" for _ in range(2)]
    run_dir = tmp_path / "run"
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}))
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "fastfeed.cli", "train", "--task", "composites",
             "--smoke", "--strategy", "multiworker", "--run-dir", str(run_dir)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        outputs = [p.communicate(timeout=400)[0] for p in processes]
    finally:
        for p in processes:
            p.kill()
    for p, output in zip(processes, outputs):
        assert p.returncode == 0, output[-3000:]
    chief = background.load_model(str(run_dir / "main" / "model.keras"))
    other = background.load_model(str(run_dir / "worker-1" / "main" / "model.keras"))
    # One optimizer over both: the same trainable weights bit for bit (batch-norm
    # moving statistics are each worker's own, as under MirroredStrategy).
    assert len(chief.trainable_weights) > 10
    for a, b in zip(chief.trainable_weights, other.trainable_weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_multiworker_needs_a_valid_tf_config(monkeypatch):
    from fastfeed import runs, train

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(train.ConfigError, match="TF_CONFIG.*not set"):
        train.make_config("composites", {"strategy": "multiworker"})
    monkeypatch.setenv("TF_CONFIG", "{cluster")
    with pytest.raises(train.ConfigError, match="not valid JSON"):
        train.make_config("composites", {"strategy": "multiworker"})
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:1"]}, '
                                    '"task": {"type": "worker", "index": 1}}')
    assert runs.worker_dir("runs/x") == os.path.join("runs/x", "worker-1")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1"]}, '
                                    '"task": {"type": "worker", "index": 0}}')
    assert runs.worker_dir("runs/x") == "runs/x"


@pytest.mark.slow
def test_serve_data_command_serves_until_stopped(tmp_path):
    import signal
    import subprocess
    import sys

    port = service.free_port()
    dispatcher = subprocess.Popen(
        [sys.executable, "-m", "fastfeed.cli", "serve-data", "dispatcher", "--port",
         str(port), "--work-dir", str(tmp_path / "journal"), "--host", "localhost"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    worker = None
    try:
        line = dispatcher.stdout.readline()
        assert f"dispatcher on port {port}" in line, line + dispatcher.stdout.read()
        assert f"--dispatcher localhost:{port}" in line
        worker = subprocess.Popen(
            [sys.executable, "-m", "fastfeed.cli", "serve-data", "worker", "--dispatcher",
             f"localhost:{port}", "--host", "localhost"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert "registered with" in worker.stdout.readline()
        stream = composites.composite_stream(image_size=32, batch_size=2,
                                            feed=Feed(service=f"localhost:{port}"))
        assert next(iter(stream))["image"].shape == (2, 32, 32, 3)
        for process in (worker, dispatcher):
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
            assert "stopped" in process.stdout.read()
    finally:
        for process in (worker, dispatcher):
            if process is not None and process.poll() is None:
                process.kill()
    assert (tmp_path / "journal").is_dir()
    missing = subprocess.run([sys.executable, "-m", "fastfeed.cli", "serve-data", "worker"],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "--dispatcher HOST:PORT" in missing.stderr


def test_serve_data_stops_when_the_signal_lands_on_another_thread():
    # The kernel may hand SIGTERM or Ctrl-C to any thread of a server (TF runs many);
    # Python runs the handler in the main thread, which must not sleep unwoken.
    import signal
    import threading
    import time

    from fastfeed.cli import serve

    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    parked = threading.Event()
    other = threading.Thread(target=parked.wait, daemon=True)
    other.start()
    main = threading.main_thread().ident
    threading.Timer(0.3, signal.pthread_kill, (other.ident, signal.SIGTERM)).start()
    watchdog = threading.Timer(10.0, signal.pthread_kill, (main, signal.SIGTERM))
    watchdog.start()  # wakes a main thread that would otherwise wait for good
    started = time.monotonic()
    try:
        serve._serve_until_stopped(server=object())
    finally:
        waited = time.monotonic() - started
        watchdog.cancel()
        parked.set()
        for signum, handler in saved.items():
            signal.signal(signum, handler)
    assert waited < 5.0, f"stopped only after {waited:.1f} s (by the watchdog)"
