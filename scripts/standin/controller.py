"""The simulated kube-controller-manager: Deployment rollouts, ReplicaSets, Pods, garbage collection."""

import copy
import hashlib
import json
import random
import threading
import time

from .store import now_rfc3339

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
# Deployment annotations the real controller does not copy onto its ReplicaSets.
SKIP_ANNOTATIONS = {REVISION, REVISION_HISTORY, DESIRED, MAX_REPLICAS,
                    "kubectl.kubernetes.io/last-applied-configuration"}
SAFE = "bcdfghjklmnpqrstvwxz2456789"
SEED_AGE = -3 * 24 * 3600.0  # objects made while seeding look as old as the seeded Deployments
SEVERITY = {"ready": 0, "never-ready": 1, "crash": 2, "pull-error": 3}


def _prune(v):
    """Drops None, {} and [] recursively: Go's omitempty view of 'the same template'."""
    if isinstance(v, dict):
        out = {k: _prune(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x not in (None, {}, [])}
    if isinstance(v, list):
        return [_prune(x) for x in v]
    return v


def template_hash(template):
    """A stable 10-character hash of a pod template, ignoring pod-template-hash."""
    t = copy.deepcopy(template or {})
    (t.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    digest = hashlib.sha256(json.dumps(_prune(t), sort_keys=True).encode()).digest()
    return "".join(SAFE[b % len(SAFE)] for b in digest[:10])


def _owner_uid(obj):
    for ref in obj.get("metadata", {}).get("ownerReferences", []) or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def _revision(rs):
    try:
        return int(rs["metadata"].get("annotations", {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _condition(type_, status, reason, message, previous):
    """A condition that keeps its transition time while (status, reason) is unchanged."""
    for c in previous or []:
        if c.get("type") == type_ and c.get("status") == status and c.get("reason") == reason:
            return dict(c, message=message)
    now = now_rfc3339()
    return {"type": type_, "status": status, "lastUpdateTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


class Controller:
    """Reconciles one cluster's store on a background thread, like kube-controller-manager."""

    def __init__(self, store, world, env, rollout_seconds, deadline_seconds, tick=0.1,
                 rollout_log=None):
        self.store = store
        # rollouts.jsonl: when each rollout began and ended (available or past its deadline),
        # so a benchmark can subtract the rollouts' own time from promote's.
        self.rollout_log = rollout_log
        self.rollout_logged = {}  # deployment uid -> (rs name, event) last written
        self.world = world
        self.env = env
        self.rollout_seconds = rollout_seconds
        self.deadline_seconds = deadline_seconds
        self.tick = tick
        self.started = {}  # (namespace, rs name) -> monotonic time it was last scaled up from 0
        self.progress_started = {}  # deployment uid -> (rs name, time its rollout began)
        self.rng = random.Random(hash(env) & 0xFFFF)
        self.stop = threading.Event()
        # Quiescence: when a pass wrote nothing and every rollout is complete, nothing changes
        # with time either, so passes sleep until the store changes or poke() says the world did
        # (an idle 200-service cluster would otherwise spend a core re-reading itself).
        self.quiet_at_rv = None
        self.thread = threading.Thread(target=self._loop, name="controller-" + env, daemon=True)

    def start(self):
        self.thread.start()

    def _loop(self):
        while not self.stop.wait(self.tick):
            try:
                self.reconcile()
            except Exception as e:  # keep the controller alive; the log shows what went wrong
                print("controller[%s]: %r" % (self.env, e), flush=True)

    # --- image behaviour ------------------------------------------------------------------
    def template_mode(self, template):
        """The worst rollout mode among the template's containers ('ready' … 'pull-error')."""
        mode = "ready"
        for c in (template.get("spec") or {}).get("containers", []) or []:
            m = self.world.behaviour(c.get("image", ""), self.env).rollout
            if SEVERITY[m] > SEVERITY[mode]:
                mode = m
        return mode

    def _rs_ready(self, rs, now):
        key = (rs["metadata"]["namespace"], rs["metadata"]["name"])
        replicas = rs["spec"].get("replicas", 1)
        if replicas == 0:
            return 0
        if self.template_mode(rs["spec"].get("template", {})) != "ready":
            return 0
        return replicas if now - self.started.get(key, now) >= self.rollout_seconds else 0

    # --- reconcile --------------------------------------------------------------------------
    def poke(self):
        """The world changed (an image's behaviour, a route table): the next pass must run."""
        self.quiet_at_rv = None

    def reconcile(self, instant=False):
        now = time.monotonic()
        with self.store.lock:
            if self.quiet_at_rv is not None and self.quiet_at_rv == self.store.rv:
                return
            before = self.store.rv
            for dep in self.store.list("deployments")[0]:
                self._deployment(dep, now, instant)
            for rs in self.store.list("replicasets")[0]:
                self._replicaset(rs, now, instant)
            self._collect_garbage()
            settled = self.store.rv == before and self._settled(now)
            self.quiet_at_rv = self.store.rv if settled else None

    def _settled(self, now):
        """Every Deployment complete and every scaled ReplicaSet ready: no change is pending."""
        for dep in self.store.list("deployments")[0]:
            conditions = (dep.get("status") or {}).get("conditions", [])
            if not any(c.get("type") == "Progressing" and c.get("reason") == "NewReplicaSetAvailable"
                       for c in conditions):
                return False
        for rs in self.store.list("replicasets")[0]:
            replicas = rs["spec"].get("replicas", 0)
            if replicas and self._rs_ready(rs, now) < replicas:
                return False
        return True

    def _owned_rs(self, dep):
        uid = dep["metadata"]["uid"]
        return [rs for rs in self.store.list("replicasets", dep["metadata"]["namespace"])[0]
                if _owner_uid(rs) == uid]

    def _deployment(self, dep, now, instant):
        md, spec = dep["metadata"], dep["spec"]
        ns, uid = md["namespace"], md["uid"]
        want = spec.get("replicas", 1)
        h = template_hash(spec.get("template"))
        owned = self._owned_rs(dep)
        max_rev = max([_revision(r) for r in owned] or [0])
        new = next((r for r in owned if r["metadata"].get("labels", {}).get(HASH_LABEL) == h), None)
        if new is None:
            new = self._create_rs(dep, h, max_rev + 1, instant)
            owned.append(new)
        elif _revision(new) < max_rev:
            # Going back to an earlier template reuses its ReplicaSet under a new revision.
            ann = new["metadata"].setdefault("annotations", {})
            history = [x for x in ann.get(REVISION_HISTORY, "").split(",") if x]
            ann[REVISION_HISTORY] = ",".join(history + [ann.get(REVISION, "0")])
            ann[REVISION] = str(max_rev + 1)
            new = self.store.replace("replicasets", new)
        rev = _revision(new)
        if self.progress_started.get(uid, (None,))[0] != new["metadata"]["name"]:
            self.progress_started[uid] = (new["metadata"]["name"], float("-inf") if instant else now,
                                          time.time())

        # Scale: the new ReplicaSet to the desired count; old ones down once the new one is ready,
        # and at once if they serve nothing.
        new = self._scale(new, want, now, instant)
        new_ready = self._rs_ready(new, now)
        olds = [r for r in owned if r["metadata"]["name"] != new["metadata"]["name"]]
        for old in olds:
            if new_ready >= want or self._rs_ready(old, now) == 0:
                self._scale(old, 0, now, instant)
        olds = [r for r in self._owned_rs(dep) if r["metadata"]["name"] != new["metadata"]["name"]]
        self._trim_history(dep, olds)

        ready = new_ready + sum(self._rs_ready(o, now) for o in olds)
        total = want + sum(o["spec"].get("replicas", 0) for o in olds)
        complete = new_ready >= want and all(o["spec"].get("replicas", 0) == 0 for o in olds)
        deadline = min(float(spec.get("progressDeadlineSeconds", 600)), self.deadline_seconds)
        elapsed = now - self.progress_started[uid][1]
        st = dep.get("status") or {}
        prev = st.get("conditions", [])
        rsname = new["metadata"]["name"]
        avail = _condition("Available", "True", "MinimumReplicasAvailable",
                           "Deployment has minimum availability.", prev) if ready >= want else \
            _condition("Available", "False", "MinimumReplicasUnavailable",
                       "Deployment does not have minimum availability.", prev)
        if complete:
            prog = _condition("Progressing", "True", "NewReplicaSetAvailable",
                              'ReplicaSet "%s" has successfully progressed.' % rsname, prev)
            self._log_rollout(md, uid, rsname, "available", instant)
        elif elapsed > deadline:
            prog = _condition("Progressing", "False", "ProgressDeadlineExceeded",
                              'ReplicaSet "%s" has timed out progressing.' % rsname, prev)
            self._log_rollout(md, uid, rsname, "deadline-exceeded", instant)
        else:
            prog = _condition("Progressing", "True", "ReplicaSetUpdated",
                              'ReplicaSet "%s" is progressing.' % rsname, prev)
        status = {"observedGeneration": md.get("generation", 1), "replicas": total,
                  "updatedReplicas": want, "readyReplicas": ready, "availableReplicas": ready,
                  "conditions": [avail, prog]}
        if total - ready > 0:
            status["unavailableReplicas"] = total - ready
        status = {k: v for k, v in status.items() if v != 0 or k == "observedGeneration"}
        cur = self.store.get("deployments", ns, md["name"])
        if cur is None or cur["metadata"]["resourceVersion"] != md["resourceVersion"]:
            return  # changed while we worked: the next tick sees the new version
        cur["status"] = status
        cur["metadata"].setdefault("annotations", {})[REVISION] = str(rev)
        self.store.replace("deployments", cur, bump_generation=False)

    def _log_rollout(self, md, uid, rsname, event, instant):
        """One rollouts.jsonl line the first time a rollout reaches `event` (not for seeding)."""
        seeded = self.progress_started[uid][1] == float("-inf")
        if instant or seeded or self.rollout_log is None or \
                self.rollout_logged.get(uid) == (rsname, event):
            return
        self.rollout_logged[uid] = (rsname, event)
        self.rollout_log.write({"ts": time.time(), "began": self.progress_started[uid][2],
                                "env": self.env, "namespace": md["namespace"], "name": md["name"],
                                "replicaSet": rsname, "event": event})

    def _create_rs(self, dep, h, revision, instant):
        md, spec = dep["metadata"], dep["spec"]
        template = copy.deepcopy(spec.get("template") or {})
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        selector = copy.deepcopy(spec.get("selector") or {})
        selector.setdefault("matchLabels", {})[HASH_LABEL] = h
        ann = {k: v for k, v in (md.get("annotations") or {}).items() if k not in SKIP_ANNOTATIONS}
        want = spec.get("replicas", 1)
        ann.update({REVISION: str(revision), DESIRED: str(want), MAX_REPLICAS: str(want + 1)})
        labels = dict((template["metadata"].get("labels") or {}))
        rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": "%s-%s" % (md["name"], h), "namespace": md["namespace"],
                           "labels": labels, "annotations": ann,
                           "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                "name": md["name"], "uid": md["uid"],
                                                "controller": True, "blockOwnerDeletion": True}]},
              "spec": {"replicas": 0, "minReadySeconds": spec.get("minReadySeconds", 0),
                       "selector": selector, "template": template},
              "status": {"replicas": 0, "observedGeneration": 1}}
        return self.store.create("replicasets", rs, creation_offset=SEED_AGE if instant else 0.0)

    def _scale(self, rs, replicas, now, instant):
        if rs["spec"].get("replicas", 0) == replicas:
            return rs
        key = (rs["metadata"]["namespace"], rs["metadata"]["name"])
        if rs["spec"].get("replicas", 0) == 0 and replicas > 0:
            self.started[key] = float("-inf") if instant else now
        rs["spec"]["replicas"] = replicas
        return self.store.replace("replicasets", rs)

    def _trim_history(self, dep, olds):
        limit = dep["spec"].get("revisionHistoryLimit", 10)
        idle = sorted((r for r in olds if r["spec"].get("replicas", 0) == 0), key=_revision)
        for r in idle[:max(0, len(idle) - limit)]:
            self.store.delete("replicasets", r["metadata"]["namespace"], r["metadata"]["name"])

    def _replicaset(self, rs, now, instant):
        md = rs["metadata"]
        ns = md["namespace"]
        key = (ns, md["name"])
        if key not in self.started:
            self.started[key] = float("-inf") if instant else now
        want = rs["spec"].get("replicas", 1)
        uid = md["uid"]
        pods = [p for p in self.store.list("pods", ns)[0] if _owner_uid(p) == uid]
        for p in pods[want:]:
            self.store.delete("pods", ns, p["metadata"]["name"])
        pods = pods[:want]
        while len(pods) < want:
            pods.append(self._create_pod(rs, instant))
        ready = self._rs_ready(rs, now)
        mode = self.template_mode(rs["spec"].get("template", {}))
        elapsed = now - self.started[key]
        for p in pods:
            self._pod_status(p, rs, mode, ready > 0, elapsed)
        status = {"replicas": want, "fullyLabeledReplicas": want, "readyReplicas": ready,
                  "availableReplicas": ready, "observedGeneration": md.get("generation", 1)}
        status = {k: v for k, v in status.items() if v != 0 or k == "observedGeneration"}
        if status != rs.get("status"):
            rs["status"] = status
            self.store.replace("replicasets", rs, bump_generation=False)

    def _create_pod(self, rs, instant):
        md = rs["metadata"]
        t = copy.deepcopy(rs["spec"].get("template") or {})
        suffix = "".join(self.rng.choice(SAFE) for _ in range(5))
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "%s-%s" % (md["name"], suffix), "namespace": md["namespace"],
                            "labels": dict((t.get("metadata") or {}).get("labels") or {}),
                            "annotations": dict((t.get("metadata") or {}).get("annotations") or {}),
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                 "name": md["name"], "uid": md["uid"],
                                                 "controller": True, "blockOwnerDeletion": True}]},
               "spec": dict(t.get("spec") or {}, nodeName="standin-node"),
               "status": {"phase": "Pending"}}
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        return self.store.create("pods", pod, creation_offset=SEED_AGE if instant else 0.0)

    def _pod_status(self, pod, rs, mode, ready, elapsed):
        started_at = pod["metadata"]["creationTimestamp"]
        statuses = []
        running = elapsed >= self.rollout_seconds / 2
        for c in pod["spec"].get("containers", []) or []:
            b = self.world.behaviour(c.get("image", ""), self.env)
            cs = {"name": c.get("name", ""), "image": c.get("image", ""), "imageID": b.image_id(),
                  "ready": ready, "started": False, "restartCount": 0}
            if b.rollout == "pull-error":
                reason = "ImagePullBackOff" if elapsed >= self.rollout_seconds else "ErrImagePull"
                cs["state"] = {"waiting": {"reason": reason,
                                           "message": 'Back-off pulling image "%s"' % c.get("image")}}
            elif b.rollout == "crash" and running:
                # A seeded pod's rollout began at -inf: count its restarts from a day ago.
                cs["restartCount"] = int(min(elapsed, 86400.0) // 5)
                cs["state"] = {"waiting": {"reason": "CrashLoopBackOff",
                                           "message": "back-off restarting failed container"}}
                cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error"}}
            elif not running and not ready:
                cs["state"] = {"waiting": {"reason": "ContainerCreating"}}
            else:
                cs["started"] = True
                cs["state"] = {"running": {"startedAt": started_at}}
            statuses.append(cs)
        any_running = any("running" in s["state"] for s in statuses)
        status = {"phase": "Running" if any_running else "Pending",
                  "conditions": [{"type": "Ready", "status": "True" if ready else "False"},
                                 {"type": "ContainersReady", "status": "True" if ready else "False"},
                                 {"type": "PodScheduled", "status": "True"}],
                  "hostIP": "10.0.0.10", "podIP": "10.244.0.%d" % (sum(map(ord, pod["metadata"]["name"])) % 250 + 2),
                  "startTime": started_at, "containerStatuses": statuses, "qosClass": "BestEffort"}
        if status != pod.get("status"):
            pod["status"] = status
            self.store.replace("pods", pod, bump_generation=False)

    def _collect_garbage(self):
        """Deletes ReplicaSets and Pods whose controlling owner is gone (background propagation),
        and everything in a deleted namespace."""
        uids = {o["metadata"]["uid"] for plural in ("deployments", "replicasets")
                for o in self.store.list(plural)[0]}
        namespaces = {n["metadata"]["name"] for n in self.store.list("namespaces")[0]}
        for (plural, ns, name), obj in list(self.store.objects.items()):
            owner = _owner_uid(obj)
            if (owner and plural in ("replicasets", "pods") and owner not in uids) or \
                    (ns and ns not in namespaces):
                self.store.delete(plural, ns, name)

    # --- what the services' HTTP ports serve -----------------------------------------------
    def serving_image(self, namespace, name, container=None):
        """The image that answers for a deployment: that of its newest ReplicaSet with ready pods."""
        with self.store.lock:
            dep = self.store.get("deployments", namespace, name)
            if dep is None:
                return None
            now = time.monotonic()
            best = None
            for rs in self._owned_rs(dep):
                if self._rs_ready(rs, now) > 0 and (best is None or _revision(rs) > _revision(best)):
                    best = rs
            if best is None:
                return None
            cs = best["spec"]["template"].get("spec", {}).get("containers", []) or []
            for c in cs:
                if container is None or c.get("name") == container:
                    return c.get("image")
            return cs[0].get("image") if cs else None
