"""Builds the clusters of a world, seeds them, starts every server and writes the files of DIR."""

import copy
import json
import os
import threading

from . import metrics, services
from .apiserver import Cluster, RequestLog, apply_defaults
from .controller import SEED_AGE, Controller
from .discovery import lookup
from .store import Store

SYSTEM_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"]



class Runtime:
    """Everything one stand-in process runs: clusters per environment and service ports."""

    def __init__(self, world, rollout_seconds, deadline_seconds):
        self.world = world
        self.rollout_seconds = rollout_seconds
        self.deadline_seconds = deadline_seconds
        self.stopping = threading.Event()
        self.clusters = {}
        self.service_servers = {}
        self.endpoints = {}
        self.metrics = metrics.Registry()  # every service port's requests and latencies

    def settings(self):
        return {"rolloutSeconds": self.rollout_seconds, "progressDeadlineSeconds": self.deadline_seconds}

    def configure(self, body):
        if "rolloutSeconds" in body:
            self.rollout_seconds = float(body["rolloutSeconds"])
        if "progressDeadlineSeconds" in body:
            self.deadline_seconds = float(body["progressDeadlineSeconds"])
        for c in self.clusters.values():
            c.controller.rollout_seconds = self.rollout_seconds
            c.controller.deadline_seconds = self.deadline_seconds
        self.poke_controllers()

    def poke_controllers(self):
        """The world or the settings changed: every controller reconciles again."""
        for c in self.clusters.values():
            c.controller.poke()

    def state(self, env):
        c = self.clusters[env]
        serving = {}
        for d in self.world.environments.get(env, {}).get("deployments", []):
            serving[d.get("service", d["name"])] = c.controller.serving_image(d["namespace"], d["name"], d.get("container"))
        return {"env": env, "settings": self.settings(), "faults": c.faults.describe(),
                "serving": serving, "resourceVersion": c.store.rv, "world": self.world.snapshot()}

    def _seed(self, env, store):
        spec = self.world.environments.get(env, {})

        def create(plural, obj):
            apply_defaults(lookup(*_gv(plural), plural), obj)
            store.create(plural, obj, creation_offset=SEED_AGE)

        for ns in SYSTEM_NAMESPACES + list(spec.get("namespaces", [])):
            create("namespaces", {"metadata": {"name": ns}})
        for d in spec.get("deployments", []):
            labels = {"app": d["name"]}
            labels.update(d.get("labels", {}))
            container = {"name": d.get("container", d["name"]), "image": d["image"],
                         "ports": [{"containerPort": d.get("port", 8080), "protocol": "TCP"}]}
            create("deployments", {"metadata": {"name": d["name"], "namespace": d["namespace"], "labels": labels},
                                   "spec": {"replicas": d.get("replicas", 1),
                                            "selector": {"matchLabels": dict(labels)},
                                            "template": {"metadata": {"labels": dict(labels)},
                                                         "spec": {"containers": [container]}}}})
            create("services", {"metadata": {"name": d["name"], "namespace": d["namespace"], "labels": labels},
                                "spec": {"selector": dict(labels),
                                         "ports": [{"port": 80, "targetPort": d.get("port", 8080), "protocol": "TCP"}]}})
        for s in spec.get("secrets", []):
            obj = {"metadata": {"name": s["name"], "namespace": s["namespace"]}, "type": s.get("type", "Opaque")}
            for k in ("data", "stringData"):
                if k in s:
                    obj[k] = copy.deepcopy(s[k])
            create("secrets", obj)
        for cm in spec.get("configmaps", []):
            create("configmaps", {"metadata": {"name": cm["name"], "namespace": cm["namespace"]},
                                  "data": dict(cm.get("data", {}))})

    def start(self, state_dir):
        log = RequestLog(os.path.join(state_dir, "requests.jsonl"))
        rollouts = RequestLog(os.path.join(state_dir, "rollouts.jsonl"))
        ports = {}
        for env in self.world.environments:
            store = Store(env)
            controller = Controller(store, self.world, env, self.rollout_seconds, self.deadline_seconds,
                                    rollout_log=rollouts)
            cluster = Cluster(env, store, controller, self)
            self._seed(env, store)
            controller.reconcile(instant=True)
            controller.reconcile(instant=True)
            controller.start()
            ports[env] = cluster.serve(log)
            self.clusters[env] = cluster
            eps = {}
            for d in self.world.environments[env].get("deployments", []):
                srv = services.serve(self, env, d)
                self.service_servers[(env, d.get("service", d["name"]))] = srv
                eps[d.get("service", d["name"])] = "http://127.0.0.1:%d" % srv.server_address[1]
                for alias in d.get("aliases", []):  # another host of the same service (www)
                    eps[alias] = eps[d.get("service", d["name"])]
            eps["api_server"] = "http://127.0.0.1:%d" % ports[env]
            self.endpoints[env] = eps
        self._write_files(state_dir, ports)

    def _write_files(self, state_dir, ports):
        lines = ["apiVersion: v1", "kind: Config", "preferences: {}", "clusters:"]
        for env, port in ports.items():
            lines += ["- name: %s" % env, "  cluster:", "    server: http://127.0.0.1:%d" % port]
        lines.append("users:")
        for env in ports:
            lines += ["- name: %s" % env, "  user:", "    token: standin-%s-token" % env]
        lines.append("contexts:")
        for env in ports:
            lines += ["- name: %s" % env, "  context:", "    cluster: %s" % env, "    user: %s" % env]
        first = "dev" if "dev" in ports else next(iter(ports))
        lines.append("current-context: %s" % first)
        _atomic(os.path.join(state_dir, "kubeconfig"), "\n".join(lines) + "\n", 0o600)
        _atomic(os.path.join(state_dir, "endpoints.json"), json.dumps(self.endpoints, indent=2) + "\n")
        _atomic(os.path.join(state_dir, "ready"), json.dumps({"pid": os.getpid(), "ports": ports}) + "\n")

    def stop(self):
        self.stopping.set()
        for c in self.clusters.values():
            c.controller.stop.set()
            c.server.shutdown()
            c.server.server_close()
        for s in self.service_servers.values():
            s.shutdown()
            s.server_close()


def _gv(plural):
    return ("apps", "v1") if plural in ("deployments", "replicasets") else ("", "v1")


def _atomic(path, text, mode=0o644):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
