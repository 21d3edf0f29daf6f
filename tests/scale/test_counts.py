"""Cluster work grows with environments and changes, not with services: counts from the
stand-in's request log for generated products (scripts/bench/scale.py), exact, never times.
A change that brings back one kubectl process per service read fails here.

PROMOTE_BIN names the promote binary (CTest passes it)."""
import json
import os
import subprocess
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def measure(*args):
    run = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts/bench/scale.py"),
         "--promote", os.environ["PROMOTE_BIN"], *args],
        capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        raise AssertionError(f"scale.py {args} failed: {run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


class ReadCountTest(unittest.TestCase):
    def test_an_audit_reads_each_environment_with_a_fixed_number_of_lists(self):
        small = measure("--services", "3", "--waves", "1", "--what", "audit")
        large = measure("--services", "24", "--waves", "3", "--what", "audit")
        for result in (small, large):
            self.assertEqual(result["exit"], 6, result)  # a promotion is pending
            for env in ("dev", "prod"):
                self.assertEqual(result["env"][env]["kubectl"], 1, result)
                self.assertEqual(result["env"][env]["writes"], 0, result)
        # 8 times the services, the same number of kubectl processes and of API requests: one
        # list each of deployments and pods (and of secrets where the plan requires some).
        for env in ("dev", "prod"):
            self.assertEqual(small["env"][env]["kubectl"], large["env"][env]["kubectl"])
            self.assertEqual(small["env"][env]["requests"], large["env"][env]["requests"], env)
            self.assertLessEqual(large["env"][env]["requests"], 4, large)


class WriteCountTest(unittest.TestCase):
    def test_a_promotion_writes_once_per_changed_service_and_reads_through_one_proxy(self):
        result = measure("--services", "8", "--waves", "2", "--what", "promote",
                         "--world-arg=--soak=1s", "--world-arg=--initial-delay=0s")
        self.assertEqual(result["exit"], 0, result)
        self.assertEqual(result["env"]["prod"]["writes"], 8, result)
        # One proxy for every read and wait, one `kubectl set image` per changed service.
        self.assertEqual(result["env"]["prod"]["kubectl"], 1 + 8, result)
        self.assertEqual(result["env"]["dev"]["kubectl"], 1, result)
        self.assertEqual(result["env"]["dev"]["writes"], 0, result)

    def test_a_failed_wave_restores_each_touched_service_once_without_reading_first(self):
        result = measure("--services", "4", "--waves", "2", "--what", "promote", "--bad", "1",
                         "--world-arg=--soak=1s")
        self.assertEqual(result["exit"], 1, result)  # rolled back
        # Wave 1 (svc000, svc001): two writes forward, two back; wave 2 never started.
        self.assertEqual(result["env"]["prod"]["writes"], 4, result)
        self.assertEqual(result["env"]["prod"]["kubectl"], 1 + 4, result)
        self.assertIsNotNone(result["verdict_to_rollback_write_s"], result)


if __name__ == "__main__":
    unittest.main()
