"""Prometheus metrics of the service ports: a request counter and a latency histogram per service,
written in the text exposition format 0.0.4 (what a Prometheus server scrapes)."""

import threading

CONTENT_TYPE = "text/plain; version=0.0.4"
METRICS_PATH = "/metrics"  # on every service port; never counted itself
# Upper bounds of the latency histogram, in seconds, as written in its `le` label (+Inf is added).
BUCKETS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5")
REQUESTS = "standin_http_requests_total"
DURATION = "standin_http_request_duration_seconds"
REQUEST_LABELS = ("env", "namespace", "service", "image", "method", "path", "status")
# The same requests as an Istio sidecar reports them, so that templates written for a mesh (Argo
# Rollouts' documented success-rate AnalysisTemplate) run unchanged against the stand-in.
ISTIO_REQUESTS = "istio_requests_total"
ISTIO_LABELS = ("env", "reporter", "destination_service", "destination_workload", "response_code")
DURATION_LABELS = ("env", "namespace", "service", "image")


def escape(value):
    """A label value as the exposition format quotes it (backslash, double quote, newline)."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def labels(names, values, extra=()):
    """`{a="x",b="y"}` for the given label names and values (plus (name, value) pairs in extra)."""
    pairs = list(zip(names, values)) + list(extra)
    return "{" + ",".join('%s="%s"' % (n, escape(v)) for n, v in pairs) + "}"


def number(x):
    """A sample value: integers without a fraction, floats as Python's shortest repr."""
    return str(x) if isinstance(x, int) else repr(float(x))


class Histogram:
    """Counts of observations per bucket (not cumulative here), their sum and their count."""

    def __init__(self):
        self.buckets = [0] * len(BUCKETS)
        self.sum = 0.0
        self.count = 0

    def observe(self, seconds):
        for i, bound in enumerate(BUCKETS):
            if seconds <= float(bound):
                self.buckets[i] += 1
                break
        self.sum += seconds
        self.count += 1

    def lines(self, label_values):
        """The _bucket (cumulative, le ascending, then +Inf), _sum and _count samples."""
        out, total = [], 0
        for bound, n in zip(BUCKETS, self.buckets):
            total += n
            out.append("%s_bucket%s %d" % (DURATION, labels(DURATION_LABELS, label_values, [("le", bound)]), total))
        out.append("%s_bucket%s %d" % (DURATION, labels(DURATION_LABELS, label_values, [("le", "+Inf")]), self.count))
        out.append("%s_sum%s %s" % (DURATION, labels(DURATION_LABELS, label_values), number(self.sum)))
        out.append("%s_count%s %d" % (DURATION, labels(DURATION_LABELS, label_values), self.count))
        return out


class Registry:
    """Every service port's series of one stand-in process; thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._requests = {}  # REQUEST_LABELS values -> count
        self._durations = {}  # DURATION_LABELS values -> Histogram

    def observe(self, env, namespace, service, image, method, path, status, seconds):
        """Counts one answered request and its latency."""
        key = (env, namespace, service, image)
        with self._lock:
            rkey = key + (method, path, str(status))
            self._requests[rkey] = self._requests.get(rkey, 0) + 1
            self._durations.setdefault(key, Histogram()).observe(seconds)

    def exposition(self, env, service=None):
        """The text exposition of an environment's series (of one service when given), as bytes:
        each family's HELP and TYPE once, then its samples in a stable (sorted) order."""

        def mine(key):
            return key[0] == env and (service is None or key[2] == service)

        with self._lock:
            requests = sorted((k, v) for k, v in self._requests.items() if mine(k))
            durations = sorted((k, h) for k, h in self._durations.items() if mine(k))
            out = ["# HELP %s Requests a service port answered, by the image that answered." % REQUESTS,
                   "# TYPE %s counter" % REQUESTS]
            out += ["%s%s %d" % (REQUESTS, labels(REQUEST_LABELS, k), v) for k, v in requests]
            istio = {}
            for (env_, namespace, svc, _, _, _, status), v in requests:
                key = (env_, "source", "%s.%s.svc.cluster.local" % (svc, namespace), svc, status)
                istio[key] = istio.get(key, 0) + v
            out += ["# HELP %s Requests as an Istio sidecar reports them (reporter=\"source\")." % ISTIO_REQUESTS,
                    "# TYPE %s counter" % ISTIO_REQUESTS]
            out += ["%s%s %d" % (ISTIO_REQUESTS, labels(ISTIO_LABELS, k), v) for k, v in sorted(istio.items())]
            out += ["# HELP %s Time a service port took to answer a request." % DURATION,
                    "# TYPE %s histogram" % DURATION]
            for k, h in durations:
                out += h.lines(k)
        return ("\n".join(out) + "\n").encode()
