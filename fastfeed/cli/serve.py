"""`fastfeed serve-data`: a tf.data service dispatcher or worker, served until stopped.

Starts TensorFlow's tf.data service server and serves until Ctrl-C or SIGTERM. One
dispatcher per cluster; a worker on each host that preprocesses; trainers pass
--data-service HOST:PORT.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading

from fastfeed.cli import common


def add_parser(commands) -> None:
    p = commands.add_parser(
        "serve-data", help="run a tf.data service dispatcher or worker (see "
                           "docs/scaling.md)",
        description=__doc__)
    p.add_argument("role", choices=("dispatcher", "worker"))
    p.add_argument("--port", type=common.Ranged(int, 0, 65535), default=0,
                   help="port to listen on (default: a free one, printed)")
    p.add_argument("--work-dir", help="dispatcher: journal its state here to survive a "
                                      "restart (fault-tolerant mode)")
    p.add_argument("--dispatcher", help="worker: the dispatcher's HOST:PORT")
    p.add_argument("--timeout", type=common.Ranged(float, 0, above=True), default=120.0,
                   help="worker: seconds to wait for the dispatcher (default: %(default)s)")
    p.add_argument("--host", help="the name other hosts reach this server by (default: "
                                  "this machine's host name)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Starts a tf.data service dispatcher or worker and serves until stopped."""
    from fastfeed.compose import service

    if args.role == "worker" and not args.dispatcher:
        return common.fail("a worker needs --dispatcher HOST:PORT (the address `fastfeed "
                           "serve-data dispatcher` printed).")
    try:
        if args.role == "dispatcher":
            server = service.dispatcher(args.port, args.work_dir)
            port = server.target.rsplit(":", 1)[1]
            where = (f"dispatcher on port {port}; start workers with: fastfeed "
                     f"serve-data worker --dispatcher {args.host or socket.gethostname()}"
                     f":{port}")
        else:
            service.wait_for(args.dispatcher, args.timeout)
            port = args.port or service.free_port()
            server = service.worker(args.dispatcher, port, args.host)
            where = (f"worker {args.host or socket.gethostname()}:{port}, registered "
                     f"with {args.dispatcher}")
    except (ValueError, RuntimeError, TimeoutError) as error:  # bad address, port taken
        return common.fail(str(error))
    print(f"tf.data service {where} (Ctrl-C to stop)", flush=True)
    _serve_until_stopped(server)
    print(f"stopped the {args.role}", flush=True)
    sys.stderr.flush()
    # TF has no public stop for a service server, and its teardown at interpreter exit
    # waits for the jobs it still serves (measured: more than 30 s with a trainer
    # reading): the process ends here, at once.
    os._exit(0)


def _serve_until_stopped(server) -> None:
    """Holds ``server`` (a server that is collected stops serving) until SIGINT or
    SIGTERM."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    # Waits in short slices: Python runs a signal's handler in the main thread only,
    # and the kernel may hand the signal to one of TF's threads, which leaves a main
    # thread blocked in an untimed wait asleep for good (seen under load: a worker
    # still up 30 s after SIGTERM, then killed).
    while not stop.wait(0.5):
        pass
