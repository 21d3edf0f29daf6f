"""Shared helpers of the stand-in tests: start/stop a stand-in, run the real kubectl and helm."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STANDIN_SH = os.path.join(ROOT, "scripts", "standin.sh")
KUBECTL = os.environ.get("PROMOTE_KUBECTL") or os.path.join(ROOT, "tools", "bin", "kubectl")
HELM = os.environ.get("PROMOTE_HELM") or os.path.join(ROOT, "tools", "bin", "helm")
CHARTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "charts")
COMMAND_TIMEOUT = 90


class Result:
    """A finished command: exit code and decoded output."""

    def __init__(self, proc):
        self.rc, self.out, self.err = proc.returncode, proc.stdout, proc.stderr

    def json(self):
        return json.loads(self.out)


def run(argv, env=None, timeout=COMMAND_TIMEOUT):
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    return Result(proc)


def standin_pids(state_dir):
    """Pids of live stand-in processes serving state_dir (scans /proc, so it also sees strays)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if b"standin" in cmd and state_dir.encode() in cmd:
            pids.append(int(entry))
    return pids


class StandinCase(unittest.TestCase):
    """A test class with its own stand-in (started in setUpClass, stopped in tearDownClass)."""

    up_args = ["--rollout-seconds", "0.5"]

    @classmethod
    def setUpClass(cls):
        for tool in (KUBECTL, HELM):
            if not os.access(tool, os.X_OK):
                raise AssertionError("%s missing: run scripts/bootstrap.sh" % tool)
        cls.tmp = tempfile.mkdtemp(prefix="standin-test-")
        cls.dir = os.path.join(cls.tmp, "standin")
        r = run([STANDIN_SH, "up", cls.dir] + cls.up_args, timeout=30)
        if r.rc != 0:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise AssertionError("standin up failed: %s %s" % (r.out, r.err))
        cls.kubeconfig = os.path.join(cls.dir, "kubeconfig")
        with open(os.path.join(cls.dir, "endpoints.json"), encoding="utf-8") as f:
            cls.endpoints = json.load(f)

    @classmethod
    def tearDownClass(cls):
        run([STANDIN_SH, "down", cls.dir], timeout=30)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # --- binaries -------------------------------------------------------------------------
    def kubectl(self, context, namespace, *args, timeout=COMMAND_TIMEOUT):
        argv = [KUBECTL, "--kubeconfig", self.kubeconfig, "--cache-dir", os.path.join(self.tmp, "kcache"),
                "--context", context]
        if namespace:
            argv += ["-n", namespace]
        env = dict(os.environ, HOME=self.tmp)
        return run(argv + list(args), env=env, timeout=timeout)

    def helm(self, context, namespace, *args, timeout=COMMAND_TIMEOUT):
        env = dict(os.environ, HOME=self.tmp, KUBECONFIG=self.kubeconfig,
                   HELM_CACHE_HOME=os.path.join(self.tmp, "helm-cache"),
                   HELM_CONFIG_HOME=os.path.join(self.tmp, "helm-config"),
                   HELM_DATA_HOME=os.path.join(self.tmp, "helm-data"))
        argv = [HELM, "--kube-context", context, "-n", namespace] + list(args)
        return run(argv, env=env, timeout=timeout)

    def assertOk(self, result, msg=""):
        self.assertEqual(result.rc, 0, "%s\nstdout: %s\nstderr: %s" % (msg, result.out, result.err))

    # --- request log, HTTP -----------------------------------------------------------------
    def requests_log(self):
        with open(os.path.join(self.dir, "requests.jsonl"), encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def log_mark(self):
        return len(self.requests_log())

    def requests_since(self, mark):
        return self.requests_log()[mark:]

    def http(self, url, method="GET", body=None, headers=None, timeout=10):
        """(status, headers, body bytes) of one HTTP request, without following redirects."""

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *a, **k):
                return None

        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
        if data is not None and not req.has_header("Content-type"):
            req.add_header("Content-Type", "application/json")
        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def control(self, env, what, body=None):
        base = self.endpoints[env]["api_server"]
        code, _, data = self.http(base + "/_standin/" + what, "POST" if body is not None else "GET", body)
        self.assertEqual(code, 200, data)
        return json.loads(data)

    def wait_for(self, predicate, timeout=20.0, what="condition"):
        """Polls predicate until it returns a truthy value (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            v = predicate()
            if v:
                return v
            if time.monotonic() > deadline:
                self.fail("timed out waiting for " + what)
            time.sleep(0.1)
