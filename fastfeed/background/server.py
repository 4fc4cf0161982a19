"""Cut-outs over HTTP: the ASGI app behind `fastfeed serve-bg` (FastAPI on uvicorn).

    from fastfeed.background import server
    app = server.create_app()            # loads the shipped model once
    # uvicorn.run(app, host="127.0.0.1", port=8000)

``POST /remove`` takes a photo (a multipart upload, any field, or the raw body) and
answers the PNG cut-out; ``remove-bg``'s options are query parameters checked with the
same table (:mod:`fastfeed.background.options`). ``GET /health`` says how busy it is;
``GET /`` is a one-page UI (no build step, nothing fetched from outside);
``GET /openapi.json`` describes the API.

Bounded under load: ``workers`` threads run the model (TensorFlow and OpenCV release
the GIL), at most ``queue`` more requests wait, and the rest get ``503`` with
``Retry-After``; a body over ``max_bytes`` gets ``413`` before it is read whole, a
photo over ``max_pixels`` is refused before it is decoded; each request has a
``deadline`` (``504``). Photos are read and answered in memory: nothing is written to
disk (multipart bodies are parsed in memory, not spooled).
"""

# No "from __future__ import annotations": FastAPI reads the handlers' annotations.

import asyncio
import concurrent.futures
import io
import logging
import os
import time

from fastfeed import images
from fastfeed.background import options

logger = logging.getLogger(__name__)

PAGE = os.path.join(os.path.dirname(__file__), "page.html")
MAX_BYTES = 50 * 2**20  # a request's body


class BadRequest(Exception):
    """A request the server refuses: an HTTP status and one line saying why."""

    def __init__(self, status: int, reason: str, headers: dict | None = None):
        super().__init__(reason)
        self.status, self.reason, self.headers = status, reason, headers or {}


def parse_query(query) -> dict:
    """``remove-bg``'s options from a request's query parameters (``mask``, ``bg_color``,
    ``refinement``, ``size``, ``scales``), checked with the command line's table;
    BadRequest(400) naming the first bad one."""
    known = {"mask", "bg_color", "refinement", "size", "scales"}
    unknown = sorted(set(query) - known)
    if unknown:
        raise BadRequest(400, f"unknown parameter {unknown[0]!r}; known: "
                              f"{', '.join(sorted(known))}")
    result = {"output": "rgba", "bg_color": (255, 255, 255),
              "refinement": options.DEFAULT_REFINEMENT, "size": options.DEFAULT_SIZE,
              "scales": options.DEFAULT_SCALES}
    for key, parse in (("mask", _switch), ("bg_color", options.colour),
                       ("refinement", options.refinement), ("size", options.size),
                       ("scales", options.scales)):
        if key in query:
            try:
                result[key] = parse(query[key])
            except ValueError as error:
                raise BadRequest(400, f"{key}: {error}") from None
    if result.pop("mask", False):
        result["output"] = "mask"
    if "bg_color" in query:
        if result["output"] == "mask":
            raise BadRequest(400, "mask and bg_color: give one of them")
        result["output"] = "color"
    problem = options.map_problem(result["size"], result["scales"])
    if problem:
        raise BadRequest(400, problem)
    return result


def _switch(text: str) -> bool:
    value = text.lower()
    if value not in ("true", "false", "1", "0", "yes", "no", ""):
        raise ValueError(f"{text!r}: use true or false")
    return value in ("true", "1", "yes", "")


def photo_of(body: bytes, content_type: str) -> bytes:
    """The photo's bytes: the first file (else the first field) of a multipart body,
    parsed in memory; any other body as it is. BadRequest(400) for a malformed or
    empty multipart body."""
    if not body:
        raise BadRequest(400, "empty body: send a photo (raw bytes or a multipart upload)")
    if not content_type.lower().startswith("multipart/form-data"):
        return body
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequest(400, "multipart body without a boundary")
    parts, header = [], {"field": b"", "value": b""}

    def begin():
        parts.append({"headers": b"", "data": bytearray()})

    def header_field(data, start, end):
        header["field"] += data[start:end]

    def header_value(data, start, end):
        header["value"] += data[start:end]

    def header_end():
        parts[-1]["headers"] += header["field"].lower() + b":" + header["value"] + b"\n"
        header["field"], header["value"] = b"", b""

    def part_data(data, start, end):
        parts[-1]["data"] += data[start:end]

    parser = MultipartParser(boundary, {
        "on_part_begin": begin, "on_header_field": header_field,
        "on_header_value": header_value, "on_header_end": header_end,
        "on_part_data": part_data})
    try:
        parser.write(body)
        parser.finalize()
    except Exception as error:  # python-multipart's MultipartParseError and kin
        raise BadRequest(400, f"malformed multipart body ({error})") from None
    if not parts:
        raise BadRequest(400, "multipart body with no part: send the photo as a file")
    files = [p for p in parts if b"filename=" in p["headers"]]
    data = bytes((files or parts)[0]["data"])
    if not data:
        raise BadRequest(400, "the uploaded file is empty")
    return data


class Remover:
    """The model, loaded once, and the bounded pool that runs it."""

    def __init__(self, model=None, *, workers: int | None = None, queue: int = 16,
                 max_pixels: int = images.MAX_PIXELS):
        from fastfeed import background

        self.path = str(model) if isinstance(model, (str, os.PathLike)) else (
            "shipped" if model is None else getattr(model, "name", "model"))
        self.model = background.load_model(model) if not hasattr(model, "predict") \
            else model
        self.workers = workers or os.cpu_count() or 1
        self.queue, self.max_pixels = queue, max_pixels
        self.pool = concurrent.futures.ThreadPoolExecutor(self.workers,
                                                          thread_name_prefix="serve-bg")
        self.admitted = 0  # running or waiting (only touched on the event loop)
        self.served = self.refused = 0

    def cut(self, data: bytes, settings: dict) -> bytes:
        """The PNG cut-out of ``data`` (run in a worker thread)."""
        from fastfeed import background

        image = background.remove_background(data, model=self.model,
                                              max_pixels=self.max_pixels, **settings)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()

    async def submit(self, data: bytes, settings: dict, deadline: float) -> bytes:
        """Runs :meth:`cut` in the pool if there is room (else BadRequest 503), within
        ``deadline`` seconds (else 504; the slot is freed when the work ends)."""
        if self.admitted >= self.workers + self.queue:
            self.refused += 1
            raise BadRequest(503, f"busy: {self.admitted} photos in work or waiting; "
                                  f"retry in a moment", {"Retry-After": "1"})
        self.admitted += 1
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.pool, self.cut, data, settings)

        def release(_):
            self.admitted -= 1
        future.add_done_callback(release)
        try:
            result = await asyncio.wait_for(asyncio.shield(future), deadline)
        except asyncio.TimeoutError:
            raise BadRequest(504, f"not done within the deadline of {deadline:g} s") \
                from None
        except images.ImageError as error:
            raise BadRequest(400, str(error)) from None
        self.served += 1
        return result


def create_app(model=None, *, workers: int | None = None, queue: int = 16,
               max_bytes: int = MAX_BYTES, max_pixels: int = images.MAX_PIXELS,
               deadline: float = 120.0):
    """The FastAPI app of `fastfeed serve-bg` around ``model`` (a path, a loaded Keras
    model, or None for the shipped one), loaded once here."""
    from fastapi import FastAPI, Request
    from fastapi.responses import HTMLResponse, JSONResponse, Response

    # A malformed upload is answered with a 400; python-multipart would also log it.
    logging.getLogger("python_multipart").setLevel(logging.ERROR)
    remover = Remover(model, workers=workers, queue=queue, max_pixels=max_pixels)
    started = time.time()
    app = FastAPI(title="fastfeed serve-bg", version="1",
                  description="Cut the object out of a photo: POST it to /remove, get "
                              "the PNG back.",
                  docs_url=None, redoc_url=None)  # their pages load scripts from a CDN
    app.state.remover = remover

    def refusal(error: BadRequest):
        return JSONResponse({"error": error.reason}, status_code=error.status,
                            headers=error.headers)

    png = {"content": {"image/png": {}}, "description": "the cut-out (RGBA PNG, or gray "
                                                          "for mask, RGB for bg_color)"}
    errors = {str(code): {"description": text} for code, text in (
        (400, "a bad photo or option, one line in 'error'"), (413, "a body over the limit"),
        (408, "the body did not arrive in time"), (503, "busy: retry after Retry-After s"),
        (504, "not done within the deadline"))}

    @app.post("/remove", responses={200: png, **errors},
              summary="The cut-out of one photo",
              openapi_extra={"requestBody": {"required": True, "content": {
                  "multipart/form-data": {"schema": {"type": "object", "properties": {
                      "file": {"type": "string", "format": "binary"}}}},
                  "application/octet-stream": {"schema": {"type": "string",
                                                          "format": "binary"}},
                  "image/*": {"schema": {"type": "string", "format": "binary"}}}},
                  "parameters": [
                      {"name": "mask", "in": "query", "schema": {"type": "boolean"},
                       "description": "the mask alone (gray PNG)"},
                      {"name": "bg_color", "in": "query", "schema": {"type": "string"},
                       "description": "R,G,B: the object on this colour (RGB PNG)"},
                      {"name": "refinement", "in": "query", "schema": {
                          "type": "string", "enum": list(options.REFINEMENTS)}},
                      {"name": "size", "in": "query", "schema": {
                          "type": "integer", "minimum": options.SIZE_RANGE[0],
                          "maximum": options.SIZE_RANGE[1],
                          "multipleOf": options.SIZE_RANGE[2]}},
                      {"name": "scales", "in": "query", "schema": {"type": "string"},
                       "description": "1 to 8 numbers in (0, 4], e.g. 0.8,1,1.2"}]})
    async def remove(request: Request):
        try:
            settings = parse_query(dict(request.query_params))
            length = request.headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > max_bytes):
                raise BadRequest(413, f"body of {length} bytes: at most {max_bytes}")
            body = await asyncio.wait_for(_read(request, max_bytes), deadline)
            photo = photo_of(body, request.headers.get("content-type", ""))
            result = await remover.submit(photo, settings, deadline)
        except BadRequest as error:
            return refusal(error)
        except asyncio.TimeoutError:
            return refusal(BadRequest(408, "the body did not arrive within the deadline"))
        return Response(result, media_type="image/png")

    @app.get("/health", summary="Whether the server is up, and how busy")
    async def health():
        return {"status": "ok", "model": remover.path, "workers": remover.workers,
                "queue": remover.queue, "in_work": remover.admitted,
                "served": remover.served, "refused_busy": remover.refused,
                "uptime_s": round(time.time() - started, 1)}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        with open(PAGE, encoding="utf-8") as f:
            return HTMLResponse(f.read())

    @app.exception_handler(404)
    async def not_found(request, exc):
        return JSONResponse({"error": f"no such page {request.url.path}; the API is "
                                      f"POST /remove, GET /health, GET /openapi.json"},
                            status_code=404)

    @app.exception_handler(405)
    async def wrong_method(request, exc):
        return JSONResponse({"error": f"{request.method} {request.url.path} is not "
                                      f"served; see GET /openapi.json"}, status_code=405)

    return app


async def _read(request, max_bytes: int) -> bytes:
    """The body, refused (413) as soon as it passes ``max_bytes``."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise BadRequest(413, f"body over {max_bytes} bytes")
    return bytes(body)
