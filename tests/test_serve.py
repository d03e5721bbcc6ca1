"""fastnn serve: a saved model's predictions over HTTP, on 127.0.0.1, with clear errors."""
import json
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
from fastnn.serve import MAX_BODY_BYTES, make_server

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
    assert _request(url + "/health", b"{}", method="POST")[0] == 404


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
