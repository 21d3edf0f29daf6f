"""The services' own HTTP ports: each answers as the image its deployment currently serves, and
serves its own Prometheus metrics on /metrics (metrics.py)."""

import json
import socket
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import metrics


class ServiceServer(ThreadingHTTPServer):
    """A service port that takes a burst of concurrent probes (the default backlog of 5 makes the
    sixth connection wait for a SYN retry, a whole second)."""

    request_queue_size = 128
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that went away (or a route that resets) is not the stand-in's error


class ServiceHandler(BaseHTTPRequestHandler):
    """Answers one service's HTTP requests from the route table of its available image, and counts
    each answer (status, latency) in the runtime's metrics."""

    protocol_version = "HTTP/1.1"
    server_version = "standin-service"
    # TCP_NODELAY, as Go's net/http sets: headers and body are separate writes, and with Nagle
    # each keep-alive answer waits for the client's delayed ACK (40 ms).
    disable_nagle_algorithm = True
    runtime = None
    env = None
    deployment = None  # world deployment entry: namespace, name, container, service

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        started = time.monotonic()
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        path = urllib.parse.urlsplit(self.path).path
        if path == metrics.METRICS_PATH:
            return self._metrics()
        image, r, (code, ctype, body, headers) = self._answer(path)
        # Faults a route may play (fault matrix): answer late, reset, or answer a huge body.
        time.sleep(min(float(r.get("delaySeconds", 0)), 30.0))
        if r.get("reset"):
            # SO_LINGER 0 makes close() send RST, as an upstream that crashes mid-request does.
            # No answer, so nothing is counted (as a crashed server's own metrics would not).
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        size = max(len(body), min(int(r.get("bodyBytes", 0)), 1 << 30))  # padded with spaces
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(size))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
            left, pad = size - len(body), b" " * 65536
            while left > 0:
                self.wfile.write(pad[:left])
                left -= len(pad)
        self._observe(image, path, code, started)

    def _answer(self, path):
        """(serving image or None, route, (status, content type, body bytes, headers)): what the
        available image answers, after its latencyMs, or its injected error; 503 without one."""
        d = self.deployment
        cluster = self.runtime.clusters[self.env]
        image = cluster.controller.serving_image(d["namespace"], d["name"], d.get("container"))
        if image is None:
            return None, {}, (503, "text/plain", b"no healthy upstream", {})
        world = self.runtime.world
        behaviour = world.behaviour(image, self.env)
        time.sleep(behaviour.latency_seconds())
        if world.inject_error(behaviour, self.env, path):
            r = {"status": 500, "body": {"error": "injected"}, "headers": {"X-Standin-Injected": "error"}}
        else:
            r = world.route(behaviour, self.command, path)
        if r is None:
            r = {"status": 404, "body": {"error": "Not Found"}}
        code = int(r.get("status", 200))
        body = r.get("body", "")
        if isinstance(body, (dict, list)):
            # Compact, as real JSON APIs answer: probes match bodies like '"service":"x"'.
            ctype = r.get("contentType", "application/json")
            body = json.dumps(body, separators=(",", ":")).encode()
        else:
            ctype, body = r.get("contentType", "text/plain"), str(body).encode()
        headers = dict(r.get("headers", {}))
        headers["X-Standin-Image"] = image
        return image, r, (code, ctype, body, headers)

    def _observe(self, image, path, code, started):
        """Counts an answered request in the metrics of this service port."""
        d = self.deployment
        self.runtime.metrics.observe(self.env, d["namespace"], d.get("service", d["name"]),
                                     image or "none", self.command, path, code,
                                     time.monotonic() - started)

    def _metrics(self):
        """GET /metrics: this service's own series (Prometheus text format 0.0.4), not counted."""
        if self.command not in ("GET", "HEAD"):
            self.send_response(405)
            self.send_header("Allow", "GET, HEAD")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        d = self.deployment
        data = self.runtime.metrics.exposition(self.env, d.get("service", d["name"]))
        self.send_response(200)
        self.send_header("Content-Type", metrics.CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET


def serve(runtime, env, deployment):
    """Starts one service's HTTP server on a free loopback port; returns the server."""
    handler = type("Handler", (ServiceHandler,), {"runtime": runtime, "env": env, "deployment": deployment})
    server = ServiceServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True,
                     name="svc-%s-%s" % (env, deployment.get("service"))).start()
    return server
