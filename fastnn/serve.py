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
  sigmoid and ``p > 0.5``; a Sequential ending in Softmax or Sigmoid already outputs
  probabilities, which are taken as they are. A model whose first layer is an Embedding (or
  EmbeddingBag) takes indices: its inputs must be integers, and are passed as int64.

``HEAD`` works where ``GET`` does; ``OPTIONS`` lists an endpoint's methods (``Allow``); any
other method on an endpoint is answered 405 with an ``Allow`` header, an unknown path 404. A
query string is ignored (``/health?probe=1`` is ``/health``).

Bad requests get a 4xx answer whose JSON ``error`` says what was wrong (malformed or too deeply
nested JSON, no "inputs", ragged samples, strings, booleans or null where numbers belong, values
outside the model's dtype, a shape the model rejects, a body over the size limit or shorter than
its Content-Length, a client that stops sending for ``timeout`` seconds: 408); even
http.server's own errors (a garbage request line, a URI over 64 KiB) are JSON. A model that
cannot answer in JSON (non-finite outputs: 422; a tuple output, as an LSTM's: 500) says so.
The server keeps serving. The standard library's HTTP server is used (no extra dependency); it
is meant for a model on a trusted network or behind a real web server, as ``python -m
http.server`` is. One model call runs at a time (layers keep per-call caches).
"""
from __future__ import annotations

import json
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import numpy as np

MAX_BODY_BYTES = 64 << 20  # a request larger than this is refused (413)
# Of a refused body, this much is still read (and dropped) after the 413: closing a socket
# with unread data resets the connection, and a client still sending then never reads the 413.
DRAIN_BYTES = 256 << 20

# The methods of each endpoint, for routing and for 405's Allow header.
ENDPOINTS = {"/health": ("GET", "HEAD", "OPTIONS"), "/info": ("GET", "HEAD", "OPTIONS"),
             "/predict": ("POST", "OPTIONS")}

# What json.loads makes of a JSON value that is not a number, to say what was found instead.
_JSON_KINDS = {str: "a string", bool: "a boolean", type(None): "null", dict: "an object"}


class RequestError(Exception):
    """A request that gets no prediction: HTTP status and a message for the JSON answer."""

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


def parse_inputs(body: bytes, dtype, indices: bool = False) -> np.ndarray:
    """The "inputs" of a /predict request body as an array (batch axis first), in `dtype`, or
    int64 when `indices` (a model whose first layer is an Embedding).

    The leaves are checked by type, not left to NumPy: np.asarray(dtype=float) would read "1"
    and true as 1.0."""
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, or an integer of 4300+ digits
        raise RequestError(400, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise RequestError(400, "the body's JSON is nested too deeply") from None
    if not isinstance(request, dict) or "inputs" not in request:
        raise RequestError(400, 'expected a JSON object {"inputs": [sample, ...]}')
    inputs = request["inputs"]
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(400, '"inputs" must be a non-empty list of samples')
    try:
        leaves = np.asarray(inputs, dtype=object)  # ragged samples leave lists among the leaves
    except ValueError:
        raise RequestError(400, '"inputs" must hold numbers only, every sample with the same shape') from None
    flat = leaves.reshape(-1)
    if not set(map(type, flat)) <= {int, float}:
        found = next(v for v in flat if type(v) not in (int, float))
        shown = json.dumps(found)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        if isinstance(found, list):  # a sample, or part of one, longer than its neighbours
            raise RequestError(400, '"inputs" must hold numbers only, every sample with the same shape; '
                                    f"found a list where a number belongs: {shown}")
        kind = _JSON_KINDS.get(type(found), "a value")
        raise RequestError(400, f'"inputs" must hold numbers only; found {kind}: {shown}')
    try:
        values = leaves.astype(np.float64)
    except OverflowError:
        raise RequestError(400, '"inputs" holds an integer too large for float64') from None
    if indices:
        integral = np.isfinite(values) & (values == np.floor(values))
        if not integral.all():
            raise RequestError(400, "this model's first layer takes indices: \"inputs\" must be integers; "
                                    f"found {float(values[~integral][0])!r}")
        try:
            return leaves.astype(np.int64)
        except OverflowError:
            biggest = values[np.abs(values) >= 2.0 ** 63][0]
            raise RequestError(400, f'"inputs" holds an index outside int64\'s range: {biggest:.6g}') from None
    with np.errstate(over="ignore"):  # a finite float64 beyond float32's range becomes inf: caught below
        x = values.astype(dtype)
    finite = np.isfinite(x)
    if not finite.all():
        biggest = np.finfo(x.dtype).max
        raise RequestError(400, f'"inputs" must be finite numbers (no NaN or infinity) within {x.dtype}\'s '
                                f"range (|x| <= {biggest:.4g}); found {float(values[~finite][0])!r}")
    return x


def _outputs_a_tuple(model, x: np.ndarray) -> bool:
    """Whether the model's output is a tuple (an LSTM's (output, (h, c))), which predict cannot
    batch: after predict failed, one more call on one sample tells this from a shape error."""
    try:
        return isinstance(model(x[:1]), tuple)
    except Exception:  # the error predict met: not a tuple problem
        return False


def predict(model, x: np.ndarray, lock: threading.Lock) -> dict:
    with lock:
        try:
            out = model.predict(x)
            # predict_proba's own rule (a Sequential ending in Softmax or Sigmoid already outputs
            # probabilities), on the outputs at hand: one forward pass
            proba = model.probabilities_of(out) if out.ndim == 2 else None
        except (ValueError, TypeError, IndexError) as exc:  # the model's own checks name the problem
            if _outputs_a_tuple(model, x):
                raise RequestError(500, "the model's output is a tuple (as an LSTM's (output, (h, c))), "
                                        "which cannot be served: /predict answers one array per sample; "
                                        "serve a model whose forward returns one (e.g. the LSTM's output "
                                        "alone)") from None
            raise RequestError(422, f"the model rejected inputs of shape {x.shape}: {exc}") from None
    if not np.all(np.isfinite(out)) or (proba is not None and not np.all(np.isfinite(proba))):
        raise RequestError(422, f"the model's outputs for these inputs are not finite (NaN or infinity), "
                                "which JSON cannot carry: the inputs are probably out of the range it "
                                "was trained on")
    answer = {"outputs": out.tolist()}
    if proba is not None:
        answer["probabilities"] = proba.tolist()
        if proba.shape[1] == 1:  # one probability of class 1 per sample
            answer["classes"] = (proba[:, 0] > 0.5).astype(np.int64).tolist()
        else:
            answer["classes"] = proba.argmax(axis=1).tolist()
    return answer


def _byte_count(header: str | None) -> int | None:
    """A Content-Length header's value, None when it is not a byte count. ASCII digits only:
    str.isdigit takes "²", which int() refuses; 20 digits at most, past any real body and far
    below int()'s 4300-digit limit."""
    if header is None or not (header.isascii() and header.isdigit()) or len(header) > 20:
        return None
    return int(header)


def _address(host: str, port: int):
    """The address family and socket address for host, IPv6 included, as ``python -m
    http.server`` picks them (ThreadingHTTPServer alone is IPv4 only)."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                  flags=socket.AI_PASSIVE)[0]
    return family, address


def make_server(model, path: str, host: str = "127.0.0.1", port: int = 8000, quiet: bool = False,
                timeout: float = 30.0):
    """A ThreadingHTTPServer serving `model` (not started: call serve_forever()). A client
    silent for `timeout` seconds is dropped (408 in the middle of a body)."""
    from .training import _takes_indices

    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    model.eval()
    lock = threading.Lock()
    info = model_info(model, path)
    dtype = np.dtype(info["dtype"])
    indices = _takes_indices(model)
    seconds = timeout

    class Handler(BaseHTTPRequestHandler):
        server_version = "fastnn-serve"
        # Seconds a read or write on the connection may wait (StreamRequestHandler.setup sets
        # it on the socket): without it a client that stalls holds its thread forever.
        timeout = seconds

        def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
            try:
                body = json.dumps(payload, allow_nan=False).encode()
            except ValueError as exc:  # a NaN that got past the checks: still valid JSON
                status, body = 500, json.dumps({"error": f"the answer is not valid JSON: {exc}"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def send_error(self, code, message=None, explain=None):
            """http.server's own errors (a garbage request line, a URI over 64 KiB, a bad HTTP
            version, an unknown method) as JSON like the rest, not its HTML page."""
            if self.command is None:
                # the request line was not understood: it has no HTTP version to answer in,
                # and HTTP/0.9's (no status line, no headers) would hide the Content-Type
                self.request_version = "HTTP/1.0"
            short = self.responses.get(code, ("error",))[0]
            message = message or short
            self.log_error("code %d, message %s", code, message)
            self._send(code, {"error": message if explain is None else f"{message}: {explain}"},
                       {"Connection": "close"})

        def _endpoint(self):
            """The endpoint asked for (the path without a query string), or None once a 404 or
            405 has been sent."""
            path = urlsplit(self.path).path
            methods = ENDPOINTS.get(path)
            if methods is None:
                self._refuse(404, f"no such endpoint {path!r}; try GET /health, GET /info, POST /predict")
            elif self.command not in methods:
                self._refuse(405, f"{path} takes {' or '.join(m for m in methods if m != 'OPTIONS')}, "
                                  f"not {self.command}", {"Allow": ", ".join(methods)})
            elif self.command == "OPTIONS":
                self._send(200, {"allow": list(methods)}, {"Allow": ", ".join(methods)})
            else:
                return path
            return None

        def _refuse(self, status: int, message: str, headers: dict | None = None) -> None:
            """An error answer to a request whose body (if any) was not read."""
            self.close_connection = True
            self._send(status, {"error": message}, headers)
            self._discard_body()

        def _discard_body(self) -> None:
            """Read and drop the unread body (up to DRAIN_BYTES, for at most `timeout` seconds), so
            that closing the connection does not reset it before the client reads the answer."""
            left = min(_byte_count(self.headers.get("Content-Length")) or 0, DRAIN_BYTES)
            deadline = time.monotonic() + self.timeout
            try:
                while left > 0 and time.monotonic() < deadline:
                    chunk = self.rfile.read(min(left, 1 << 16))
                    if not chunk:
                        break
                    left -= len(chunk)
            except OSError:  # a timeout or a reset: the client is gone, nothing left to protect
                pass

        def do_GET(self):
            path = self._endpoint()
            if path == "/health":
                self._send(200, {"status": "ok"})
            elif path == "/info":
                self._send(200, info)

        do_HEAD = do_GET  # _send leaves out the body

        def do_POST(self):
            if self._endpoint() is None:
                return
            self.close_connection = True  # after an error the body may be unread: never reuse
            try:
                header = self.headers.get("Content-Length")
                if header is None:
                    raise RequestError(411, "a Content-Length header is required")
                length = _byte_count(header)
                if length is None:
                    raise RequestError(400, f"Content-Length must be a number of bytes, got {header[:40]!r}")
                if length > MAX_BODY_BYTES:
                    self._refuse(413, f"the body has {length} bytes; the limit is {MAX_BODY_BYTES}")
                    return
                try:
                    body = self.rfile.read(length)
                except TimeoutError:
                    raise RequestError(408, f"the body stopped arriving: nothing for {self.timeout} s "
                                            f"of the {length} bytes Content-Length announced") from None
                if len(body) < length:
                    raise RequestError(400, f"body truncated: {len(body)} of the {length} bytes "
                                            "Content-Length announced")
                x = parse_inputs(body, dtype, indices)
                self._send(200, predict(model, x, lock))
            except RequestError as exc:
                self._send(exc.status, {"error": str(exc)})
            except ConnectionError:  # the client went away: nobody to answer
                pass
            except Exception as exc:  # a bug (ours or a layer's): still an answer, and logged
                self.log_error("%s", traceback.format_exc())
                self._send(500, {"error": f"internal error: {type(exc).__name__}: {exc}"})

        def _answer_from_the_route(self):
            """OPTIONS (an endpoint's methods) and PUT, DELETE, PATCH (405, or 404): no endpoint
            takes the last three, so _endpoint's answer is the whole answer."""
            self._endpoint()

        do_OPTIONS = do_PUT = do_DELETE = do_PATCH = _answer_from_the_route

        def log_message(self, fmt, *args):
            if not quiet:
                sys.stderr.write(f"{self.address_string()} - {fmt % args}\n")

    family, address = _address(host, port)

    class Server(ThreadingHTTPServer):
        address_family = family

    return Server(address, Handler)


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
    url_host = f"[{host}]" if ":" in host else host
    print(f"serving {args.model} on http://{url_host}:{port} (GET /health, GET /info, POST /predict); "
          "Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
