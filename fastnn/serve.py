"""``fastnn serve MODEL``: a saved model behind a small JSON-over-HTTP prediction service.

Endpoints (all JSON):

- ``GET /health`` -> ``{"status": "ok"}``
- ``GET /info`` -> the model's architecture (as saved), dtype, parameter count and the input
  size its first layer fixes, e.g. ``{"in_features": 784}`` or ``{"in_channels": 1}``.
- ``POST /predict`` with ``{"inputs": [sample, ...]}`` (each sample a nested list of numbers of
  the shape the model takes, without the batch axis) -> ``{"outputs": [...]}`` (the model's
  raw outputs: logits for a classifier) and, when the outputs are per-class scores (2-D),
  ``"probabilities"`` and ``"classes"`` as ``Module.predict_proba`` reads them: the softmax and
  its argmax for several columns; for one column (a binary classifier's logit of class 1) its
  sigmoid and ``p > 0.5``.

Bad requests get a 4xx answer whose JSON ``error`` says what was wrong (malformed JSON, no
"inputs", ragged or non-numeric samples, a shape the model rejects, a body over the size limit);
the server keeps serving. The standard library's HTTP server is used (no extra dependency); it
is meant for a model on a trusted network or behind a real web server, as ``python -m
http.server`` is. One model call runs at a time (layers keep per-call caches).
"""
from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

MAX_BODY_BYTES = 64 << 20  # a request larger than this is refused (413)


class RequestError(Exception):
    """A client error: HTTP status and a message for the JSON answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def model_info(model, path: str) -> dict:
    from .nn.containers import layer_to_config

    params = model.parameters()
    info = {"model": str(path), "dtype": str(params[0].dtype) if params else "float32",
            "parameters": int(sum(p.size for p in params)), "architecture": layer_to_config(model)}
    first = next((m for m in model.modules() if hasattr(m, "in_features") or hasattr(m, "in_channels")), None)
    if first is not None:
        key = "in_features" if hasattr(first, "in_features") else "in_channels"
        info[key] = getattr(first, key)
    return info


def parse_inputs(body: bytes, dtype) -> np.ndarray:
    """The "inputs" of a /predict request body as an array (batch axis first)."""
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(request, dict) or "inputs" not in request:
        raise RequestError(400, 'expected a JSON object {"inputs": [sample, ...]}')
    inputs = request["inputs"]
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(400, '"inputs" must be a non-empty list of samples')
    try:
        x = np.asarray(inputs, dtype=np.float64)
    except (ValueError, TypeError):
        raise RequestError(400, '"inputs" must hold numbers only, every sample with the same shape') from None
    if not np.all(np.isfinite(x)):
        raise RequestError(400, '"inputs" must be finite numbers (no NaN or infinity)')
    return x.astype(dtype)


def predict(model, x: np.ndarray, lock: threading.Lock) -> dict:
    from . import ops

    with lock:
        try:
            out = model.predict(x)
        except (ValueError, TypeError) as exc:  # the model's own shape checks name the problem
            raise RequestError(422, f"the model rejected inputs of shape {x.shape}: {exc}") from None
    answer = {"outputs": out.tolist()}
    if out.ndim == 2 and out.shape[1] == 1:  # one logit of class 1 per sample
        p = ops.sigmoid(np.ascontiguousarray(out))
        answer["probabilities"] = p.tolist()
        answer["classes"] = (p[:, 0] > 0.5).astype(np.int64).tolist()
    elif out.ndim == 2:
        answer["probabilities"] = ops.softmax(np.ascontiguousarray(out)).tolist()
        answer["classes"] = out.argmax(axis=1).tolist()
    return answer


def make_server(model, path: str, host: str = "127.0.0.1", port: int = 8000, quiet: bool = False):
    """A ThreadingHTTPServer serving `model` (not started: call serve_forever())."""
    model.eval()
    lock = threading.Lock()
    info = model_info(model, path)
    dtype = np.dtype(info["dtype"])

    class Handler(BaseHTTPRequestHandler):
        server_version = "fastnn-serve"

        def _send(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/health":
                self._send(200, {"status": "ok"})
            elif self.path == "/info":
                self._send(200, info)
            else:
                self._send(404, {"error": f"no such endpoint {self.path!r}; try GET /health, GET /info, POST /predict"})

        def do_POST(self):
            if self.path != "/predict":
                self._send(404, {"error": f"no such endpoint {self.path!r}; try POST /predict"})
                return
            try:
                length = self.headers.get("Content-Length")
                if length is None or not length.isdigit():
                    raise RequestError(411, "a Content-Length header is required")
                if int(length) > MAX_BODY_BYTES:
                    raise RequestError(413, f"the body has {int(length)} bytes; the limit is {MAX_BODY_BYTES}")
                x = parse_inputs(self.rfile.read(int(length)), dtype)
                self._send(200, predict(model, x, lock))
            except RequestError as exc:
                self.close_connection = True  # an unread or bad body: don't reuse the connection
                self._send(exc.status, {"error": str(exc)})

        def log_message(self, fmt, *args):
            if not quiet:
                sys.stderr.write(f"{self.address_string()} - {fmt % args}\n")

    return ThreadingHTTPServer((host, port), Handler)


def main(args) -> int:
    from . import load
    from .serialization import ModelFileError

    try:
        model = load(args.model)
    except (OSError, ModelFileError) as exc:
        print(f"fastnn serve: cannot load {args.model}: {exc}", file=sys.stderr)
        return 2
    try:
        server = make_server(model, args.model, args.host, args.port, quiet=args.quiet)
    except OSError as exc:
        print(f"fastnn serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    host, port = server.server_address[:2]
    print(f"serving {args.model} on http://{host}:{port} (GET /health, GET /info, POST /predict); Ctrl-C stops",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
