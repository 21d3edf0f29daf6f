#!/usr/bin/env python3
"""The "Install promote" steps of the shipped CI files, run for real (ctest label ci-files).

scripts/ci/github-actions.yml (one step per job) and scripts/ci/gitlab-ci.yml (.promote's
before_script) build promote from source. This test reads those steps from the files themselves,
replaces only what belongs to the forge or to the machine, runs them with bash as the runners do
(`bash --noprofile --norc -eo pipefail`), and checks what they installed:

- the git URL and ref: a file:// clone of this checkout's HEAD (committed work only);
- /opt/promote, /usr/local/bin and $GITHUB_PATH: a temporary folder and file, removed at the end;
- the "promote already on PATH" guard is left out, so a promote on this machine skips nothing;
- the apt-get line runs as root only when the archive answers (`apt-get update --error-on=any`
  succeeds); otherwise it is skipped (the bootstrap installs what the build needs by itself).

The copies are compared after dropping comments, the guard, the apt-get line and the forge's way
to put a folder on PATH. Identical copies are built once, differing ones once each; a copy that
lacks a step, builds another type than Release or installs from elsewhere fails the test.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CI = ROOT / "scripts" / "ci"
DEADLINE = time.monotonic() + 1140  # under ctest's TIMEOUT (1200 s), so the cleanup still runs

# Each copy must have one command matching each of these (the names are used in messages).
REQUIRED = {
    "clone": r'git clone .*"\$PROMOTE_GIT_URL" /opt/promote',
    "bootstrap": r"/opt/promote/scripts/bootstrap\.sh",
    "configure": r"cmake -S /opt/promote -B /opt/promote/build .*-DCMAKE_BUILD_TYPE=Release\b.*",
    "build": r"cmake --build /opt/promote/build --target promote\b.*",
    "install": r"install .*/opt/promote/build/promote /usr/local/bin/promote",
}
GUARD = re.compile(r"if .*command -v promote\b.*|fi")
ADD_TO_PATH = re.compile(r'echo (\S+) >> "\$GITHUB_PATH"|export PATH="([^:"]+):\$PATH"')


def fail(message):
    print(f"FAIL: {message}")
    sys.exit(1)


def block_after(lines, at):
    """The literal block scalar (`run: |`, `- |`) opened on lines[at], dedented."""
    indent = len(lines[at]) - len(lines[at].lstrip())
    body = []
    for line in lines[at + 1 :]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        body.append(line)
    return textwrap.dedent("\n".join(body))


def github_steps(path):
    lines = path.read_text().splitlines()
    steps = {}
    for at, line in enumerate(lines):
        if line.strip() != "- name: Install promote":
            continue
        job = next(l for l in reversed(lines[:at]) if re.fullmatch(r"  [\w-]+:", l)).strip(" :")
        run = next(i for i in range(at + 1, len(lines)) if lines[i].strip() == "run: |")
        steps[f"{path.name} jobs.{job}"] = block_after(lines, run)
    return steps


def gitlab_steps(path):
    lines = path.read_text().splitlines()
    start = lines.index(".promote:")
    before = next(i for i in range(start, len(lines)) if lines[i].strip() == "before_script:")
    items = [i for i in range(before + 1, len(lines)) if lines[i].strip() == "- |"][:1]
    return {f"{path.name} .promote.before_script": block_after(lines, items[0])}


def commands(script):
    """The script's commands without comments, blank lines and the already-installed guard."""
    out = []
    for line in script.splitlines():
        line = re.sub(r"(^|\s+)#\s.*$", "", line).strip()
        if line and not GUARD.fullmatch(line):
            out.append(" ".join(line.split()))
    return out


def parse(name, script):
    """(apt-get line, build commands, folder put on PATH, that line) of one copy; fails if a
    copy lacks a step this test and the docs rely on."""
    cmds = commands(script)
    apt = [c for c in cmds if c.startswith("apt-get ")]
    path = [(c, m.group(1) or m.group(2)) for c in cmds if (m := ADD_TO_PATH.fullmatch(c))]
    build = [c for c in cmds if not c.startswith("apt-get ") and not ADD_TO_PATH.fullmatch(c)]
    for step, pattern in REQUIRED.items():
        if sum(bool(re.fullmatch(pattern, c)) for c in build) != 1:
            fail(f"{name}: no single '{step}' command matching /{pattern}/ in:\n  " +
                 "\n  ".join(cmds))
    if len(apt) != 1 or not {"git", "ca-certificates"} <= set(apt[0].split()):
        fail(f"{name}: expected one apt-get line installing git and ca-certificates (the clone "
             f"runs before the bootstrap), found {apt}")
    if len(path) != 1 or path[0][1] != "/opt/promote/tools/bin":
        fail(f"{name}: expected the bootstrap's /opt/promote/tools/bin put on PATH, found {path}")
    return apt[0], tuple(build), path[0][0]


def apt_allowed():
    """None when the apt-get line can run here, else why it is skipped."""
    if os.geteuid() != 0:
        return "skipped: not root"
    try:
        probe = subprocess.run(["apt-get", "update", "-qq", "--error-on=any"], timeout=300)
        if probe.returncode == 0:
            return None
    except subprocess.TimeoutExpired:
        pass
    return "skipped: the archive does not answer (no network)"


def run_bash(script_file, env):
    """Runs a script as GitHub's `shell: bash` does; kills what is left of it afterwards."""
    proc = subprocess.Popen(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_file)],
                            env=env, cwd=script_file.parent, start_new_session=True)
    try:
        return proc.wait(timeout=max(DEADLINE - time.monotonic(), 1))
    except subprocess.TimeoutExpired:
        fail(f"{script_file.name} still running at the test's deadline")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run_bash_line(line):
    with tempfile.NamedTemporaryFile("w", suffix=".sh") as script:
        script.write(line + "\n")
        script.flush()
        return run_bash(Path(script.name), dict(os.environ))


def pinned(name):
    match = re.search(rf'^{name}_VERSION="([^"]+)"', (ROOT / "scripts/bootstrap.sh").read_text(),
                      re.M)
    return match.group(1)


def check_install(tmp, added):
    """promote --version runs from where the step installed it; the pinned kubectl and helm are
    in the one folder the step put on PATH."""
    version = re.search(r"project\(promote VERSION (\S+)", (ROOT / "CMakeLists.txt").read_text())
    said = subprocess.run([tmp / "bin/promote", "--version"], capture_output=True, text=True,
                          timeout=30)
    if said.returncode != 0 or said.stdout.strip() != f"promote {version.group(1)}":
        fail(f"installed promote --version: exit {said.returncode}, {said.stdout!r}")
    if added != [str(tmp / "opt/promote/tools/bin")]:
        fail(f"the step put {added} on PATH, expected {tmp}/opt/promote/tools/bin")
    print(f"ok: {said.stdout.strip()} installed", end="")
    for tool, args in (("kubectl", ["version", "--client"]), ("helm", ["version", "--short"])):
        path = Path(added[0]) / tool
        said = subprocess.run([path, *args], capture_output=True, text=True, timeout=30)
        if pinned(tool.upper()) not in said.stdout:
            fail(f"{path}: expected {pinned(tool.upper())}, it says {said.stdout!r}")
        print(f", {tool} {pinned(tool.upper())}", end="")
    print(" on the PATH the step sets")


def main():
    signal.signal(signal.SIGTERM, lambda *_: fail("terminated"))
    sys.stdout.reconfigure(line_buffering=True)  # in order with the output of the steps
    if subprocess.run(["git", "-C", ROOT, "status", "--porcelain"], capture_output=True,
                      text=True, check=True).stdout:
        print("note: the clone is of HEAD; uncommitted changes are not in it")
    copies = github_steps(CI / "github-actions.yml") | gitlab_steps(CI / "gitlab-ci.yml")
    if sum(name.startswith("github") for name in copies) < 2:
        fail(f"expected an 'Install promote' step in each job of github-actions.yml: {copies}")
    parsed = {name: parse(name, script) for name, script in copies.items()}
    variants = {}
    for name, (_, build, path_line) in parsed.items():
        variants.setdefault(build, []).append((name, path_line))
    apt_lines = sorted({apt for apt, _, _ in parsed.values()})
    print(f"{len(copies)} copies, {len(variants)} distinct build(s), "
          f"{len(apt_lines)} distinct apt-get line(s)")

    skip_apt = apt_allowed()
    for apt in apt_lines:
        print(f"apt-get line {skip_apt or 'runs'}: {apt}")
        if not skip_apt and run_bash_line(apt) != 0:
            fail(f"the apt-get line failed: {apt}")

    for number, (build, users) in enumerate(variants.items(), 1):
        with tempfile.TemporaryDirectory(prefix="promote-ci-files.") as tmp_name:
            tmp = Path(tmp_name)
            forge = tmp / "forge.git"  # stands in for $PROMOTE_GIT_URL: HEAD as a branch
            subprocess.run(["git", "init", "-q", "--bare", forge], check=True)
            subprocess.run(["git", "-C", forge, "fetch", "-q", "--no-tags", f"file://{ROOT}",
                            "HEAD:refs/heads/under-test"], check=True)
            (tmp / "bin").mkdir()
            (tmp / "opt").mkdir()
            local = [c.replace("/opt/promote", f"{tmp}/opt/promote")
                     .replace("/usr/local/bin/", f"{tmp}/bin/") for c in build]
            path_line = users[0][1].replace("/opt/promote", f"{tmp}/opt/promote")
            script = tmp / "install.sh"
            script.write_text("\n".join([*local, path_line, f'printf "%s" "$PATH" > {tmp}/path',
                                         ""]))
            env = dict(os.environ, PROMOTE_GIT_URL=f"file://{forge}", PROMOTE_REF="under-test",
                       GITHUB_PATH=str(tmp / "github_path"))
            print(f"--- build {number} of {len(variants)}, for {', '.join(n for n, _ in users)}:\n"
                  + script.read_text())
            started = time.monotonic()
            if run_bash(script, env) != 0:
                fail(f"the install steps of {users[0][0]} failed (output above)")
            print(f"build {number}: {time.monotonic() - started:.0f} s")
            before = os.environ["PATH"].split(":")
            added = [p for p in (tmp / "path").read_text().split(":") if p not in before]
            if (tmp / "github_path").exists():
                added += (tmp / "github_path").read_text().split()
            check_install(tmp, added)
    print("ci-files: every install step builds and installs promote")


if __name__ == "__main__":
    main()
