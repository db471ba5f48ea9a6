"""mcmc-run --serve against a standard-library client: every route's values
equal the in-process model's (umb-values) to 1e-12 relative; every kind of
bad request gets its protocol error type and HTTP status, and the next good
request is answered; memory is checked every 10 requests and stays flat;
SIGTERM stops the server cleanly.

usage: server_walk.py MCMC_RUN UMB_VALUES CONFIG WORKDIR"""
import json
import os
import signal
import socket
import subprocess
import sys

from umb import Client, dump_servers, check, finish, max_rel, rel_close, start, stop

run, values_prog, config, work = [os.path.abspath(a) for a in sys.argv[1:5]]
os.makedirs(work, exist_ok=True)
TOL = 1e-12

ref = json.loads(subprocess.run([values_prog, config], check=True, capture_output=True, text=True).stdout)
xi, sens = ref["xi"], ref["sens"]
N, M = len(xi), ref["nobs"]

proc, port = start([run, "--serve", config, "--listen", "127.0.0.1:0"], cwd=work)
c = Client(port)
sys.excepthook = lambda *a: (sys.__excepthook__(*a), dump_servers())

# --- the routes
st, info = c.raw("GET", "/Info")
check("Info", st == 200 and info == {"protocolVersion": 1.0,
                                     "models": ["posterior", "forward", "loglikelihood", "logprior"]}, info)
support = {}
for name in info["models"]:
    st, mi = c.post("/ModelInfo", {"name": name})
    support[name] = mi["support"]
    check("ModelInfo %s" % name, st == 200 and set(mi["support"]) ==
          {"Evaluate", "Gradient", "ApplyJacobian", "ApplyHessian"} and mi["support"]["Evaluate"]
          and mi["support"]["Gradient"], mi)
check("ApplyJacobian, ApplyHessian support: the scalar models, not forward",
      all(support[n]["ApplyJacobian"] and support[n]["ApplyHessian"] for n in ["posterior", "loglikelihood", "logprior"])
      and not support["forward"]["ApplyJacobian"] and not support["forward"]["ApplyHessian"], support)
for name, nout in [("posterior", 1), ("forward", M), ("loglikelihood", 1), ("logprior", 1)]:
    st, a = c.post("/InputSizes", {"name": name, "config": {}})
    st2, b = c.post("/OutputSizes", {"name": name, "config": {}})
    check("sizes %s" % name, st == st2 == 200 and a == {"inputSizes": [N]} and b == {"outputSizes": [nout]}, (a, b))

for name in ["posterior", "loglikelihood", "logprior"]:
    st, r = c.post("/Evaluate", {"name": name, "input": [xi], "config": {}})
    check("Evaluate %s" % name, st == 200 and rel_close(r["output"][0][0], ref[name], TOL),
          (r, ref[name]))
    st, r = c.post("/Gradient", {"name": name, "outWrt": 0, "inWrt": 0, "input": [xi], "sens": [1.0], "config": {}})
    check("Gradient %s" % name, st == 200 and len(r["output"]) == N and
          max_rel(r["output"], ref[name + "_gradient"]) <= TOL, st)
    st, r2 = c.post("/Gradient", {"name": name, "outWrt": 0, "inWrt": 0, "input": [xi], "sens": [-2.5]})
    check("Gradient %s sens -2.5" % name, st == 200 and
          max_rel(r2["output"], [-2.5 * g for g in ref[name + "_gradient"]]) <= TOL, st)
    v = ref["v"]
    st, r = c.post("/ApplyHessian", {"name": name, "outWrt": 0, "inWrt1": 0, "inWrt2": 0, "input": [xi],
                                     "sens": [1.0], "vec": v})
    check("ApplyHessian %s" % name, st == 200 and len(r["output"]) == N and
          max_rel(r["output"], ref[name + "_hessian_v"]) <= TOL, r if st != 200 else
          max_rel(r["output"], ref[name + "_hessian_v"]))
    st, r = c.post("/ApplyHessian", {"name": name, "outWrt": 0, "inWrt1": 0, "inWrt2": 0, "input": [xi],
                                     "sens": [0.5], "vec": v})
    check("ApplyHessian %s sens 0.5" % name, st == 200 and
          max_rel(r["output"], [0.5 * h for h in ref[name + "_hessian_v"]]) <= TOL, st)
    st, r = c.post("/ApplyJacobian", {"name": name, "outWrt": 0, "inWrt": 0, "input": [xi], "vec": v})
    jv = sum(g * w for g, w in zip(ref[name + "_gradient"], v))
    check("ApplyJacobian %s" % name, st == 200 and len(r["output"]) == 1 and
          rel_close(r["output"][0], jv, 1e-10), (r, jv))
st, r = c.post("/Evaluate", {"name": "forward", "input": [xi]})
check("Evaluate forward", st == 200 and len(r["output"][0]) == M and max_rel(r["output"][0], ref["forward"]) <= TOL,
      st)
st, r = c.post("/Gradient", {"name": "forward", "outWrt": 0, "inWrt": 0, "input": [xi], "sens": sens})
check("Gradient forward (J^T s)", st == 200 and max_rel(r["output"], ref["forward_gradient"]) <= TOL,
      max_rel(r["output"], ref["forward_gradient"]) if st == 200 else r)

# --- bad requests: (name, method, path, body, status, error type)
good = {"name": "posterior", "input": [xi]}
bad = [
    ("malformed JSON", "POST", "/Evaluate", '{"name": "posterior", "input": [[1, 2]', 400, "InvalidInput"),
    ("not an object", "POST", "/Evaluate", "[1, 2, 3]", 400, "InvalidInput"),
    ("empty body", "POST", "/Evaluate", "", 400, "InvalidInput"),
    ("no name", "POST", "/Evaluate", {"input": [xi]}, 400, "InvalidInput"),
    ("unknown model", "POST", "/Evaluate", {"name": "nosuchmodel", "input": [xi]}, 400, "ModelNotFound"),
    ("unknown model ModelInfo", "POST", "/ModelInfo", {"name": "nosuchmodel"}, 400, "ModelNotFound"),
    ("unknown model InputSizes", "POST", "/InputSizes", {"name": "x"}, 400, "ModelNotFound"),
    ("input too short", "POST", "/Evaluate", {"name": "posterior", "input": [xi[:-1]]}, 400, "InvalidInput"),
    ("input too long", "POST", "/Evaluate", {"name": "posterior", "input": [xi + [0.0]]}, 400, "InvalidInput"),
    ("two inputs", "POST", "/Evaluate", {"name": "posterior", "input": [xi, xi]}, 400, "InvalidInput"),
    ("input not nested", "POST", "/Evaluate", {"name": "posterior", "input": xi}, 400, "InvalidInput"),
    ("no input", "POST", "/Evaluate", {"name": "posterior"}, 400, "InvalidInput"),
    ("string in input", "POST", "/Evaluate", {"name": "posterior", "input": [["a"] + xi[1:]]}, 400,
     "InvalidInput"),
    ("NaN in input", "POST", "/Evaluate", json.dumps({"name": "posterior", "input": [[float("nan")] + xi[1:]]}),
     400, "InvalidInput"),
    ("Infinity in input", "POST", "/Evaluate", json.dumps({"name": "posterior", "input": [[float("inf")] + xi[1:]]}),
     400, "InvalidInput"),
    ("1e999 in input", "POST", "/Evaluate",
     '{"name": "posterior", "input": [[1e999' + "".join(", 0" for _ in xi[1:]) + "]]}", 400, "InvalidInput"),
    ("exp(m) overflow", "POST", "/Evaluate", {"name": "posterior", "input": [[1e6] * N]}, 400, "InvalidInput"),
    ("unknown config keys", "POST", "/Evaluate", {"name": "posterior", "input": [xi], "config": {"a": 1, "b": 2}},
     400, "InvalidInput"),
    ("config not an object", "POST", "/Evaluate", {"name": "posterior", "input": [xi], "config": 3}, 400,
     "InvalidInput"),
    ("unknown config key in InputSizes", "POST", "/InputSizes", {"name": "forward", "config": {"level": 2}}, 400,
     "InvalidInput"),
    ("sens wrong size", "POST", "/Gradient", {"name": "forward", "outWrt": 0, "inWrt": 0, "input": [xi],
                                              "sens": sens[:-1]}, 400, "InvalidInput"),
    ("outWrt out of range", "POST", "/Gradient", {"name": "posterior", "outWrt": 1, "inWrt": 0, "input": [xi],
                                                  "sens": [1.0]}, 400, "InvalidInput"),
    ("inWrt missing", "POST", "/Gradient", {"name": "posterior", "outWrt": 0, "input": [xi], "sens": [1.0]}, 400,
     "InvalidInput"),
    ("vec wrong size", "POST", "/ApplyJacobian", {"name": "posterior", "outWrt": 0, "inWrt": 0, "input": [xi],
                                                  "vec": [1.0]}, 400, "InvalidInput"),
    ("ApplyJacobian of forward", "POST", "/ApplyJacobian", {"name": "forward", "outWrt": 0, "inWrt": 0,
                                                            "input": [xi], "vec": xi}, 400, "UnsupportedFeature"),
    ("ApplyHessian of forward", "POST", "/ApplyHessian", {"name": "forward", "outWrt": 0, "inWrt1": 0, "inWrt2": 0,
                                                          "input": [xi], "sens": sens, "vec": xi}, 400,
     "UnsupportedFeature"),
    ("ApplyHessian inWrt2 out of range", "POST", "/ApplyHessian", {"name": "posterior", "outWrt": 0, "inWrt1": 0,
                                                                   "inWrt2": 1, "input": [xi], "sens": [1.0],
                                                                   "vec": xi}, 400, "InvalidInput"),
    ("unknown route", "POST", "/EvaluateShMem", good, 404, "UnsupportedFeature"),
    ("GET an evaluation", "GET", "/Evaluate", None, 405, "InvalidInput"),
    ("POST /Info", "POST", "/Info", good, 405, "InvalidInput"),
]
for name, method, path, body, status, etype in bad:
    st, r = c.raw(method, path, body)
    check("bad request: %s -> %d %s" % (name, status, etype),
          st == status and isinstance(r, dict) and set(r) == {"error"} and r["error"]["type"] == etype
          and isinstance(r["error"]["message"], str) and r["error"]["message"], (st, r))
    st, r = c.post("/Evaluate", good)
    check("  next good request answered", st == 200 and rel_close(r["output"][0][0], ref["posterior"], TOL), st)

# Bodies over the size limit, sent by hand (the server answers 413 and
# closes the connection without reading them): with a Content-Length, and
# chunked (no length known in advance).
def oversized(head, pieces):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(head)
    try:
        for p in pieces:
            s.sendall(p)
    except OSError:
        pass
    reply = b""
    try:
        s.settimeout(10)
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            part = s.recv(4096)
            if not part:
                break
            reply += part
    except OSError:
        pass
    s.close()
    status = int(reply.split(b" ")[1]) if reply.startswith(b"HTTP/1.") else 0
    body = reply.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in reply else b""
    return status, (json.loads(body) if body.strip() else None)


chunk = b" " * 65536
for name, head, pieces in [
        ("Content-Length over the limit", b"POST /Evaluate HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (40 << 16),
         [chunk] * 40),
        ("chunked body over the limit", b"POST /Evaluate HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
         [b"%x\r\n" % len(chunk) + chunk + b"\r\n"] * 40 + [b"0\r\n\r\n"])]:
    st, r = oversized(head, pieces)
    check("%s -> 413 InvalidInput" % name, st == 413 and r["error"]["type"] == "InvalidInput", (st, r))
    st, r = c.post("/Evaluate", good)
    check("  next good request answered", st == 200 and rel_close(r["output"][0][0], ref["posterior"], TOL), st)

# Clients that go away mid-request: half a body, and headers only.
for partial in [b"POST /Evaluate HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{\"name\": \"post",
                b"POST /Evaluate HTTP/1.1\r\nHost: x\r\n"]:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(partial)
    s.close()
st, r = c.post("/Evaluate", good)
check("answered after clients disconnected mid-request", st == 200, st)

# Two clients interleaved: each is answered, one evaluation at a time.
c2 = Client(port)
for k in range(20):
    st1, r1 = c.post("/Evaluate", {"name": "loglikelihood", "input": [xi]})
    st2, r2 = c2.post("/Evaluate", {"name": "posterior", "input": [xi]})
    if not (st1 == st2 == 200):
        break
check("two clients", st1 == st2 == 200 and rel_close(r1["output"][0][0], ref["loglikelihood"], TOL) and
      rel_close(r2["output"][0][0], ref["posterior"], TOL))

# Enough evaluations for a run of memory checks (every 10 requests).
for k in range(300):
    name = ["posterior", "forward", "loglikelihood"][k % 3]
    st, r = c.post("/Evaluate", {"name": name, "input": [xi]})
    if st != 200:
        break
    if k % 7 == 0:
        st, r = c.post("/Gradient", {"name": "posterior", "outWrt": 0, "inWrt": 0, "input": [xi], "sens": [1.0]})
check("300 evaluations", st == 200, st)

code, out, err = stop(proc, signal.SIGTERM)
check("SIGTERM: exit 0", code == 0, (code, err[-2000:]))
check("SIGTERM: reported", "stopped  on signal 15" in out, out[-500:])
import re
m = re.search(r"memory   (\d+) checks every 10 requests after 20: live objects and bytes flat", out)
check("memory checked and flat", m is not None and int(m.group(1)) >= 30, out[-800:])
check("nothing on stderr but libmicrohttpd's notes", "PETSC ERROR" not in err, err[-2000:])
finish("server")
