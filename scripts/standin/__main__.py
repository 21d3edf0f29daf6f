"""Command line: `python3 -m standin serve --dir DIR …` runs the stand-in; `ctl` talks to it."""

import argparse
import json
import os
import signal
import sys
import threading
import urllib.request

from .runtime import Runtime
from .world import World

HERE = os.path.dirname(os.path.abspath(__file__))


def _serve(args):
    world = World.load(args.world)
    rollout = args.rollout_seconds if args.rollout_seconds is not None else \
        float(world.settings.get("rolloutSeconds", 1.0))
    deadline = args.deadline_seconds if args.deadline_seconds is not None else \
        float(world.settings.get("progressDeadlineSeconds", 4.0))
    rt = Runtime(world, rollout, deadline)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    rt.start(args.dir)
    print("standin: serving %s (rollout %.2fs, deadline %.2fs)" % (
        json.dumps(rt.endpoints), rollout, deadline), flush=True)
    while not done.wait(0.5):
        pass
    print("standin: stopping", flush=True)
    rt.stop()
    return 0


def _ctl(args):
    """Sends one request to the control API of an environment's API server."""
    with open(os.path.join(args.dir, "endpoints.json"), encoding="utf-8") as f:
        base = json.load(f)[args.env]["api_server"]
    data = args.body.encode() if args.body else None
    req = urllib.request.Request(base + "/_standin/" + args.what.lstrip("/"), data=data,
                                 method="POST" if data else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        sys.stdout.write(r.read().decode())
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="standin", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the stand-in in the foreground")
    s.add_argument("--dir", required=True)
    s.add_argument("--world", default=os.path.join(HERE, "worlds", "keybuzz.json"))
    s.add_argument("--rollout-seconds", type=float)
    s.add_argument("--deadline-seconds", type=float)
    c = sub.add_parser("ctl", help="GET or POST a control path, e.g. `ctl DIR prod faults '{\"mode\":\"500\"}'`")
    c.add_argument("dir")
    c.add_argument("env")
    c.add_argument("what", help="state | faults | images | routes | settings")
    c.add_argument("body", nargs="?", help="JSON body (makes it a POST)")
    args = p.parse_args(argv)
    return _serve(args) if args.cmd == "serve" else _ctl(args)


if __name__ == "__main__":
    sys.exit(main())
