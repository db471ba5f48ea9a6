"""A UM-Bridge 1.0 test server on Python's standard library (http.server),
serving models with exact answers for mcmc-run's client tests:

  gaussian  [2] -> [1]  log density of N(mu, C), mu = (1, -0.5),
                        C = [[1, 0.6], [0.6, 2]]; Gradient
  banana    [2] -> [1]  log density -x1^2/2 - (x2 - b (x1^2 - 1))^2/2, b = 0.3
                        (mean 0, variances 1 and 1 + 2 b^2); Gradient
  linear    [3] -> [4]  observations A x (A below); Gradient = A^T sens
  nograd    [2] -> [1]  gaussian without Gradient support

Faults on request, for the retry and stop tests:
  --fail-every K     answer every K-th POST with HTTP 503
  --stall-every K    sleep --stall seconds before answering every K-th POST
  --die-after N      exit at once (no answer) at the N-th POST /Evaluate

usage: test_server.py [--port P] [faults]   (prints "listening on http://127.0.0.1:PORT")"""
import argparse
import json
import math
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MU = [1.0, -0.5]
C = [[1.0, 0.6], [0.6, 2.0]]
DET = C[0][0] * C[1][1] - C[0][1] * C[1][0]
P = [[C[1][1] / DET, -C[0][1] / DET], [-C[1][0] / DET, C[0][0] / DET]]
B = 0.3
A = [[1.0, 0.5, 0.0], [0.0, 1.0, -1.0], [0.3, 0.0, 1.0], [1.0, 1.0, 1.0]]


def gaussian(x):
    r = [x[0] - MU[0], x[1] - MU[1]]
    pr = [P[0][0] * r[0] + P[0][1] * r[1], P[1][0] * r[0] + P[1][1] * r[1]]
    return [-0.5 * (r[0] * pr[0] + r[1] * pr[1])], [-pr[0], -pr[1]]


def banana(x):
    y = x[1] - B * (x[0] ** 2 - 1)
    return [-0.5 * x[0] ** 2 - 0.5 * y * y], [-x[0] + 2 * B * x[0] * y, -y]


MODELS = {
    "gaussian": (2, 1, True),
    "banana": (2, 1, True),
    "linear": (3, 4, True),
    "nograd": (2, 1, False),
}


def evaluate(name, x):
    if name in ("gaussian", "nograd"):
        return gaussian(x)[0]
    if name == "banana":
        return banana(x)[0]
    return [sum(a * b for a, b in zip(row, x)) for row in A]


def gradient(name, x, sens):
    if name == "gaussian":
        return [sens[0] * g for g in gaussian(x)[1]]
    if name == "banana":
        return [sens[0] * g for g in banana(x)[1]]
    return [sum(A[i][j] * sens[i] for i in range(4)) for j in range(3)]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the UM-Bridge servers
    # Headers and body go out in two writes: without TCP_NODELAY the second
    # waits for the client's delayed ACK, 40 ms a request.
    disable_nagle_algorithm = True
    posts = 0
    evaluations = 0

    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, etype, message, status=400):
        self.reply(status, {"error": {"type": etype, "message": message}})

    def do_GET(self):
        if self.path == "/Info":
            self.reply(200, {"protocolVersion": 1.0, "models": list(MODELS)})
        else:
            self.error("UnsupportedFeature", "no route", 404)

    def do_POST(self):
        opt = self.server.opt
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Handler.posts += 1
        if self.path == "/Evaluate":
            Handler.evaluations += 1
            if opt.die_after and Handler.evaluations >= opt.die_after:
                sys.stdout.flush()
                os._exit(3)
        if opt.fail_every and Handler.posts % opt.fail_every == 0:
            return self.error("InvalidOutput", "test server: a transient failure", 503)
        if opt.stall_every and Handler.posts % opt.stall_every == 0:
            time.sleep(opt.stall)
        name = req.get("name")
        if name not in MODELS:
            return self.error("ModelNotFound", "no model %r" % name)
        nin, nout, grad = MODELS[name]
        if req.get("config"):
            return self.error("InvalidInput", "unknown config keys %s" % sorted(req["config"]))
        if self.path == "/ModelInfo":
            return self.reply(200, {"support": {"Evaluate": True, "Gradient": grad, "ApplyJacobian": False,
                                                "ApplyHessian": False}})
        if self.path == "/InputSizes":
            return self.reply(200, {"inputSizes": [nin]})
        if self.path == "/OutputSizes":
            return self.reply(200, {"outputSizes": [nout]})
        x = req.get("input", [[]])[0]
        if len(x) != nin:
            return self.error("InvalidInput", "input of size %d, expected %d" % (len(x), nin))
        if self.path == "/Evaluate":
            return self.reply(200, {"output": [evaluate(name, x)]})
        if self.path == "/Gradient" and grad:
            return self.reply(200, {"output": gradient(name, x, req["sens"])})
        return self.error("UnsupportedFeature", "%s not supported" % self.path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fail-every", type=int, default=0)
    ap.add_argument("--stall-every", type=int, default=0)
    ap.add_argument("--stall", type=float, default=2.0)
    ap.add_argument("--die-after", type=int, default=0)
    opt = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", opt.port), Handler)
    srv.daemon_threads = True
    srv.opt = opt
    print("listening on http://127.0.0.1:%d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
