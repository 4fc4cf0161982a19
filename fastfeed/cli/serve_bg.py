"""`fastfeed serve-bg`: cut-outs over HTTP, with a one-page UI.

Loads the model once and answers POST /remove (a photo as a multipart upload or the
raw body; remove-bg's options as query parameters: mask, bg_color, refinement, size,
scales) with the PNG cut-out; GET / is a page to drop photos on, GET /health says how
busy it is, GET /openapi.json describes the API. Listens on loopback unless --host
says otherwise. A fixed number of workers run the model, at most --queue more photos
wait, and the rest are told 503 with Retry-After. Ctrl-C or SIGTERM finishes what is in
work and stops. Needs the serve extra: pip install 'fastfeed[serve]'.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket

from fastfeed import images
from fastfeed.cli import common


def add_parser(commands) -> None:
    p = commands.add_parser("serve-bg", help="serve background removal over HTTP, with "
                                             "a web page", description=__doc__)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: %(default)s, this machine only; "
                        "0.0.0.0 for every interface)")
    p.add_argument("--port", type=common.Ranged(int, 0, 65535), default=8000,
                   help="port (default: %(default)s; 0: a free one, printed)")
    p.add_argument("--model", help="model.keras (or run folder) from `fastfeed train "
                                    "--task composites`; default: the shipped model")
    p.add_argument("--workers", type=common.Ranged(int, 1, 256), default=os.cpu_count() or 1,
                   help="photos cut out at once (default: %(default)s, the cores)")
    p.add_argument("--queue", type=common.Ranged(int, 0, 100000), default=16,
                   help="photos that may wait beyond those; more get 503 (default: "
                        "%(default)s)")
    p.add_argument("--max-bytes", type=common.Ranged(int, 1), default=50 * 2**20,
                   help="largest request body (default: %(default)s)")
    p.add_argument("--max-pixels", type=common.Ranged(int, 1), default=images.MAX_PIXELS,
                   help="refuse larger photos before decoding them (default: %(default)s)")
    p.add_argument("--deadline", type=common.Ranged(float, 0, above=True), default=120.0,
                   help="seconds a request may take, upload included (default: "
                        "%(default)s)")
    p.set_defaults(run=run)


def _server_class():
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server with this command's signal handling: uvicorn's own re-raises
        SIGTERM once it has stopped, and the process then dies of it, without its
        summary or exit status 0."""

        @contextlib.contextmanager
        def capture_signals(self):  # uvicorn >= 0.29
            yield

        def install_signal_handlers(self):  # older uvicorn
            pass
    return Server


def run(args: argparse.Namespace) -> int:
    """Serves the remover until Ctrl-C or SIGTERM."""
    try:
        import fastapi  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn
    except ImportError as error:
        return common.fail(f"serve-bg needs the serve extra ({error.name} is missing): "
                           f"pip install 'fastfeed[serve]'.")
    from fastfeed.background import server

    try:
        listener = socket.create_server((args.host, args.port))
    except (OSError, OverflowError) as error:
        return common.fail(f"--host {args.host} --port {args.port}: cannot listen there "
                           f"({getattr(error, 'strerror', None) or error}); choose "
                           f"another --port.")
    try:
        app = server.create_app(args.model, workers=args.workers, queue=args.queue,
                                max_bytes=args.max_bytes, max_pixels=args.max_pixels,
                                deadline=args.deadline)
    except (FileNotFoundError, ValueError, OSError) as error:
        listener.close()
        return common.fail(str(error))
    host, port = listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"serving on http://{shown}:{port}/ (the page; POST /remove, GET /health, "
          f"GET /openapi.json) with {args.workers} worker(s); Ctrl-C or SIGTERM stops",
          flush=True)
    if not host.startswith("127.") and host not in ("::1", "localhost"):
        print(f"note: --host {args.host} answers other machines too", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=args.deadline)
    serving = _server_class()(config)

    def stop(signum, frame):  # the first asks to finish what is in work, a second forces
        if serving.should_exit:
            serving.force_exit = True
        serving.should_exit = True
    previous = {signum: signal.signal(signum, stop)
                for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        serving.run(sockets=[listener])
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    remover = app.state.remover
    print(f"stopped: {remover.served} cut-outs served, {remover.refused} refused as "
          f"busy", flush=True)
    return 0
