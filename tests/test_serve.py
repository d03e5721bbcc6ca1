"""fastnn serve: a saved model's predictions over HTTP, on 127.0.0.1, with clear errors."""
import contextlib
import http.client
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

import fastnn
from fastnn import nn
from fastnn import serve
from fastnn.serve import MAX_BODY_BYTES, make_server, predict

from test_config import fastnn_env, run_python


def _model(path):
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(3 * 2 * 2, 5))
    fastnn.save(model, path)
    return fastnn.load(path)


@pytest.fixture
def server(tmp_path):
    path = tmp_path / "m.npz"
    model = _model(path)
    srv = make_server(fastnn.load(path), str(path), port=0, quiet=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", model
    srv.shutdown()
    srv.server_close()


def _request(url, body=None, headers=None, method=None):
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _post(url, payload):
    return _request(url + "/predict", json.dumps(payload).encode(), {"Content-Type": "application/json"})


def test_predict_matches_the_model(server):
    url, model = server
    x = np.random.default_rng(0).standard_normal((3, 1, 4, 4)).astype(np.float32)
    status, answer = _post(url, {"inputs": x.tolist()})
    assert status == 200, answer
    want = model.predict(x)
    np.testing.assert_allclose(answer["outputs"], want, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(answer["probabilities"], model.predict_proba(x), rtol=1e-6, atol=1e-7)
    assert answer["classes"] == want.argmax(axis=1).tolist()
    np.testing.assert_allclose(np.sum(answer["probabilities"], axis=1), 1.0, rtol=1e-6)


def test_health_and_info(server):
    url, model = server
    assert _request(url + "/health") == (200, {"status": "ok"})
    status, info = _request(url + "/info")
    assert status == 200
    assert info["in_channels"] == 1 and info["dtype"] == "float32"
    assert info["parameters"] == sum(p.size for p in model.parameters())
    assert info["architecture"]["type"] == "Sequential"


@pytest.mark.parametrize("body, status, words", [
    (b"{not json", 400, "not valid JSON"),
    (b'{"x": [1]}', 400, '"inputs"'),
    (b'{"inputs": []}', 400, "non-empty"),
    (b'{"inputs": [[[[1, 2]]], [[[1]]]]}', 400, "same shape"),
    (b'{"inputs": [["a"]]}', 400, "numbers only"),
    (b'{"inputs": [[[[NaN]]]]}', 400, "finite"),
    (b'{"inputs": [[1.0, 2.0]]}', 422, "shape (1, 2)"),
    # JSON that json.loads or NumPy choke on (the handler used to die with no answer)
    (b'{"inputs": [[[[1' + b"0" * 400 + b']]]]}', 400, "too large for float64"),
    (b'{"inputs": [[[[1' + b"0" * 5000 + b']]]]}', 400, "not valid JSON"),
    (b'{"inputs": ' + b"[" * 100000 + b"]" * 100000 + b"}", 400, "nested too deeply"),
    # finite in float64, infinite in the model's float32 (the answer held NaN)
    (b'{"inputs": [[[[1e39]]]]}', 400, "float32's range"),
    (b'{"inputs": [[[[-1e39]]]]}', 400, "found -1e+39"),
    # NumPy reads "1" and true as 1.0: not numbers in JSON
    (b'{"inputs": [[[["1"]]]]}', 400, 'found a string: "1"'),
    (b'{"inputs": [[[[true]]]]}', 400, "found a boolean: true"),
    (b'{"inputs": [[[[null]]]]}', 400, "found null"),
    (b'{"inputs": [[[[{"a": 1}]]]]}', 400, "found an object"),
])
def test_bad_requests_get_clear_errors_and_the_server_keeps_serving(server, body, status, words):
    url, _ = server
    got, answer = _request(url + "/predict", body, {"Content-Type": "application/json"})
    assert got == status and words in answer["error"], answer
    assert _request(url + "/health") == (200, {"status": "ok"})


def test_oversized_body_and_unknown_endpoints(server):
    url, _ = server
    req = urllib.request.Request(url + "/predict", data=b"{}", method="POST",
                                 headers={"Content-Length": str(MAX_BODY_BYTES + 1)})
    # The server answers from the header alone, before reading a body that never comes.
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("an oversized body was accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 413 and "limit" in json.loads(e.read())["error"]
    assert _request(url + "/nope")[0] == 404
    assert _request(url + "/health", b"{}", method="POST")[0] == 405


def test_cli_serves_and_reports_bad_model_files(tmp_path):
    path = tmp_path / "m.npz"
    _model(path)
    bad = run_python(["-m", "fastnn", "serve", str(tmp_path / "missing.npz")], tmp_path)
    assert bad.returncode == 2 and "cannot load" in bad.stderr
    assert run_python(["-m", "fastnn", "serve", str(path), "--port", "70000"], tmp_path).returncode == 2
    proc = subprocess.Popen([sys.executable, "-m", "fastnn", "serve", str(path), "--port", "0", "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env=fastnn_env())
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving "), line + proc.stderr.read()
        url = line.split(" on ")[1].split()[0]
        deadline = time.time() + 10
        while True:
            try:
                assert _request(url + "/health") == (200, {"status": "ok"})
                break
            except urllib.error.URLError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        status, answer = _post(url, {"inputs": np.zeros((2, 1, 4, 4)).tolist()})
        assert status == 200 and len(answer["classes"]) == 2
    finally:
        proc.terminate()
        proc.communicate(timeout=10)  # also closes the pipes


def test_a_one_column_model_gets_sigmoid_probabilities():
    """A binary classifier with one logit column: probabilities are its sigmoid (as
    Module.predict_proba), classes p > 0.5, not a softmax over one column (always 1)."""
    import threading

    from fastnn.serve import predict

    model = nn.Sequential(nn.Linear(3, 1))
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    answer = predict(model, x, threading.Lock())
    p = model.predict_proba(x)
    np.testing.assert_allclose(answer["probabilities"], p, rtol=1e-6)
    assert answer["classes"] == (p[:, 0] > 0.5).astype(int).tolist()
    assert 0 < min(q[0] for q in answer["probabilities"]) and max(q[0] for q in answer["probabilities"]) < 1


# ---- helpers for the tests below: a server on a model in memory, and raw HTTP -----------------

@contextlib.contextmanager
def _serving(model, **kwargs):
    """(host, port) of a server on `model`, running until the block ends."""
    srv = make_server(model, "model.npz", port=0, quiet=True, **kwargs)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv.server_address[:2]
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join()


def _parse(raw: bytes):
    """(status, headers with lower-case names, body) of a raw HTTP response."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def _raw(address, data: bytes, end_body: bool = False):
    """Send bytes as they are (no client fixing them up); read the answer to the end.
    end_body: then close our side, as a client whose body is cut short does."""
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(data)
        if end_body:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return _parse(b"".join(chunks))


def _http(address, method, path, body=None, headers=None):
    """(status, headers with lower-case names, body) of one request through http.client."""
    conn = http.client.HTTPConnection(*address, timeout=20)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def _digits_mlp():
    fastnn.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


# ---- regressions -------------------------------------------------------------------------------

@pytest.mark.parametrize("last", [nn.Softmax(dim=1), nn.Sigmoid()], ids=["softmax", "sigmoid"])
@pytest.mark.parametrize("columns", [1, 3])
def test_a_model_ending_in_probabilities_is_not_squashed_twice(last, columns):
    """Softmax/Sigmoid as the last layer: its outputs are the probabilities (as predict_proba
    takes them), not softmax(softmax(z)), which flattens them towards uniform."""
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, columns), last)
    x = np.random.default_rng(1).standard_normal((6, 4)).astype(np.float32) * 3
    answer = predict(model, x, threading.Lock())
    p = model.predict_proba(x)
    np.testing.assert_allclose(answer["probabilities"], p, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(answer["outputs"], p, rtol=1e-6, atol=1e-7)
    want = (p[:, 0] > 0.5).astype(int) if columns == 1 else p.argmax(axis=1)
    assert answer["classes"] == want.tolist()


def test_non_finite_outputs_get_a_json_error_not_nan_tokens():
    """Finite inputs, an output that overflows float32: a JSON error, never NaN/Infinity (not JSON)."""
    model = nn.Sequential(nn.Linear(1, 2))
    model[0].weight.data[...] = 3e38
    with _serving(model) as address:
        status, headers, body = _http(address, "POST", "/predict", b'{"inputs": [[10.0]]}')
    assert status == 422 and "not finite" in _strict_json(body)["error"]


def _strict_json(body: bytes):
    """json.loads refusing NaN and Infinity, which Python writes but JSON has not."""
    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    return json.loads(body, parse_constant=refuse)


def test_a_body_shorter_than_its_content_length_is_refused(server):
    url, _ = server
    address = ("127.0.0.1", int(url.rsplit(":", 1)[1]))
    body = json.dumps({"inputs": np.zeros((1, 1, 4, 4)).tolist()}).encode()
    request = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (len(body) + 50) + body
    status, headers, answer = _raw(address, request, end_body=True)
    assert status == 400 and "body truncated" in json.loads(answer)["error"], answer
    assert "%d of the %d bytes" % (len(body), len(body) + 50) in json.loads(answer)["error"]


@pytest.mark.parametrize("header, status", [
    (b"", 411), (b"Content-Length: -1\r\n", 400), (b"Content-Length: \xc2\xb2\r\n", 400),  # a superscript 2
    (b"Content-Length: " + b"9" * 5000 + b"\r\n", 400),  # past int()'s 4300-digit limit
])
def test_a_missing_or_bad_content_length_is_refused(header, status):
    with _serving(_digits_mlp()) as address:
        got, headers, body = _raw(address, b"POST /predict HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n{}")
        assert got == status and "Content-Length" in json.loads(body)["error"], body


@pytest.mark.parametrize("timeout", [0, -1.0, None, "30"])
def test_a_bad_timeout_is_refused(timeout):
    with pytest.raises(ValueError, match=f"got {timeout!r}"):
        make_server(_digits_mlp(), "model.npz", port=0, timeout=timeout)


def test_a_stalled_body_times_out_with_408():
    """A client that stops sending mid-body releases its thread after `timeout` seconds."""
    with _serving(_digits_mlp(), timeout=0.3) as address:
        request = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inputs\": "
        start = time.monotonic()
        status, headers, body = _raw(address, request)  # our side stays open: the server stops waiting
        assert status == 408 and "stopped arriving" in json.loads(body)["error"], body
        assert time.monotonic() - start < 5
        assert _http(address, "GET", "/health")[0] == 200


def test_an_oversized_body_sent_for_real_gets_the_413(monkeypatch):
    """The client sends the whole body before reading: the server must read (and drop) it after
    the 413, or closing resets the connection and the client gets a broken pipe instead."""
    monkeypatch.setattr(serve, "MAX_BODY_BYTES", 1 << 16)
    big = b'{"inputs": [' + b"0," * (16 << 20) + b"0]}"  # 32 MiB: well past the socket buffers
    with _serving(_digits_mlp()) as address:
        status, headers, body = _http(address, "POST", "/predict", big)
        assert status == 413 and "the limit is 65536" in json.loads(body)["error"]
        assert headers["content-type"] == "application/json"
        assert _http(address, "GET", "/health")[0] == 200


def test_methods_405_with_allow_404_for_unknown_paths_and_head():
    with _serving(_digits_mlp()) as address:
        for method in ("PUT", "DELETE", "PATCH"):
            status, headers, body = _http(address, method, "/predict", b"{}")
            assert status == 405 and headers["allow"] == "POST, OPTIONS", (method, body)
            assert headers["content-type"] == "application/json" and method in json.loads(body)["error"]
            status, headers, body = _http(address, method, "/nope", b"{}")
            assert status == 404 and "no such endpoint" in json.loads(body)["error"]
        status, headers, body = _http(address, "OPTIONS", "/health")
        assert status == 200 and headers["allow"] == "GET, HEAD, OPTIONS"
        assert json.loads(body) == {"allow": ["GET", "HEAD", "OPTIONS"]}
        # HEAD: GET's status and headers, no body
        for path in ("/health", "/info"):
            status, headers, body = _http(address, "HEAD", path)
            _, got, full = _http(address, "GET", path)
            assert status == 200 and body == b"" and headers["content-length"] == str(len(full))
        status, headers, body = _http(address, "HEAD", "/predict")
        assert status == 405 and headers["allow"] == "POST, OPTIONS" and body == b""


def test_get_predict_and_post_health_get_405_and_a_query_string_is_ignored():
    with _serving(_digits_mlp()) as address:
        status, headers, body = _http(address, "GET", "/predict")
        assert status == 405 and headers["allow"] == "POST, OPTIONS"
        assert "/predict takes POST, not GET" in json.loads(body)["error"]
        status, headers, body = _http(address, "POST", "/health", b"{}")
        assert status == 405 and headers["allow"] == "GET, HEAD, OPTIONS"
        assert _http(address, "GET", "/health?probe=1")[::2] == (200, b'{"status": "ok"}')
        status, _, body = _http(address, "POST", "/predict?v=1", b'{"inputs": [[1, 2, 3, 4]]}')
        assert status == 200 and len(json.loads(body)["classes"]) == 1
        assert _http(address, "GET", "/nope?probe=1")[0] == 404


@pytest.mark.parametrize("request_line, status", [
    (b"GARBAGE\r\n\r\n", 400),                                   # one word
    (b"GET / HTTP/1.1 extra\r\n\r\n", 400),                      # four words
    (b"GET /health HTTP/x.y\r\n\r\n", 400),                      # bad version
    (b"GET /health HTTP/2.0\r\n\r\n", 505),
    (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"BREW /health HTTP/1.1\r\n\r\n", 501),                     # no such method
    (b"GET /health HTTP/1.1\r\n" + b"X: " + b"a" * 70000 + b"\r\n\r\n", 431),
])
def test_malformed_requests_get_json_errors_not_html(request_line, status):
    with _serving(_digits_mlp()) as address:
        got, headers, body = _raw(address, request_line)
        assert got == status, body
        assert headers["content-type"] == "application/json" and json.loads(body)["error"]
        assert _http(address, "GET", "/health")[0] == 200


def test_a_model_taking_indices_gets_integer_inputs():
    """An Embedding first: its inputs go in as int64, not cast to float32 (which it refuses)."""
    fastnn.manual_seed(0)
    model = nn.Sequential(nn.Embedding(10, 3), nn.Flatten(), nn.Linear(6, 2))
    with _serving(model) as address:
        idx = [[1, 2], [9, 0]]
        status, _, body = _http(address, "POST", "/predict", json.dumps({"inputs": idx}).encode())
        assert status == 200, body
        np.testing.assert_allclose(json.loads(body)["outputs"], model.predict(np.array(idx)), rtol=1e-6)
        # integer-valued floats are indices too; 2.5 is not; out of range: the layer's own message
        status, _, body = _http(address, "POST", "/predict", b'{"inputs": [[1.0, 2.0]]}')
        assert status == 200, body
        status, _, body = _http(address, "POST", "/predict", b'{"inputs": [[1, 2.5]]}')
        assert status == 400 and "must be integers; found 2.5" in json.loads(body)["error"]
        status, _, body = _http(address, "POST", "/predict", b'{"inputs": [[1, 10]]}')
        assert status == 422 and "out of range" in json.loads(body)["error"]
        status, _, body = _http(address, "POST", "/predict", b'{"inputs": [[1, 99999999999999999999]]}')
        assert status == 400 and "outside int64" in json.loads(body)["error"]


def test_a_tuple_output_is_named_not_blamed_on_the_inputs():
    model = nn.LSTM(4, 3, batch_first=True)
    with _serving(model) as address:
        inputs = np.zeros((2, 3, 4)).tolist()
        status, _, body = _http(address, "POST", "/predict", json.dumps({"inputs": inputs}).encode())
    assert status == 500 and "output is a tuple" in json.loads(body)["error"], body


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_serves_on_an_ipv6_host(tmp_path):
    path = tmp_path / "m.npz"
    _model(path)
    proc = subprocess.Popen([sys.executable, "-m", "fastnn", "serve", str(path), "--host", "::1", "--port", "0",
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, env=fastnn_env())
    try:
        line = proc.stdout.readline()
        assert " on http://[::1]:" in line, line + proc.stderr.read()
        port = int(line.split("]:")[1].split()[0])
        assert _http(("::1", port), "GET", "/health")[::2] == (200, b'{"status": "ok"}')
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
