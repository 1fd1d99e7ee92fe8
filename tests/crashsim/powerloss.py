#!/usr/bin/env python3
"""powerloss.py - the driver of the simulated power-loss test; run by
tests/cli/test_powerloss.sh, which explains it. Arguments: the cairn
binary, the shim library, a scratch directory. Environment:
CAIRN_TEST_SEED, CAIRN_CRASHSIM_KEEP, CAIRN_CRASHSIM_IGNORE, CAIRN_CRASHSIM_VARIANTS (random variants per crash point
besides keep-all, drop-all and drop-each-file's-oldest-write; default 1), CAIRN_CRASHSIM_STACKS (a
comma-separated list of: file, lmdb, cached, follower; default
file,lmdb,follower)."""
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replay  # noqa: E402

# pack=5: the imports (7 blobs each) go into packs, the small puts (3-4
# blobs) stay loose, so both ways of writing a commit meet every crash
# point.
STACKS = {
    "file": "file:{d}/store?io=syscall&pack=5",
    "lmdb": "lmdb:{d}/store",
    "cached": "mem:4M>lmdb:{d}/store",
    "follower": "lmdb:{d}/store>file:{d}/backup?io=syscall&pack=5",
}


class Failed(Exception):
    pass


def run(binary, spec, args, stdin=None, env=None):
    return subprocess.run([binary, "-s", spec] + list(args), input=stdin, capture_output=True,
                          env=env, timeout=120)


def parse_export(out):
    got = {}
    for line in out.split(b"\n"):
        if line:
            k, v = line.split(b"\t", 1)
            got[k] = v
    return got


class Workload:
    """Runs commits under the shim and remembers what each acknowledged."""

    def __init__(self, binary, shim, root, log, spec, rng):
        self.binary, self.spec, self.log, self.rng = binary, spec, log, rng
        self.env = dict(os.environ, LD_PRELOAD=shim, CAIRN_CRASHSIM_ROOT=root,
                        CAIRN_CRASHSIM_LOG=log)
        self.env.pop("CAIRN_STACK", None)
        self.model = {}
        self.refs = {}          # "tag NAME" / "branch NAME" -> id, acked
        self.commits = []       # main's commit ids, oldest first
        self.contents = {}      # commit id -> model
        self.acks = []          # per ack: (main head or None, refs dict, what)

    def cmd(self, what, args, stdin=None):
        p = run(self.binary, self.spec, args, stdin, self.env)
        if p.returncode != 0:
            raise Failed("workload step '%s' failed: exit %d: %s" % (
                what, p.returncode, p.stderr.decode(errors="replace")))
        head = None
        q = run(self.binary, self.spec, ["log", "-n", "1"])
        if q.returncode == 0 and q.stdout:
            head = q.stdout.split(b" ", 1)[0].decode()
        if head and (not self.commits or self.commits[-1] != head):
            self.commits.append(head)
            self.contents[head] = dict(self.model)
        with open(self.log, "ab") as f:
            f.write(b"0 ack %d\n" % len(self.acks))
        self.acks.append((head, dict(self.refs), what))
        return head

    def value(self, n):
        return bytes(self.rng.randrange(0x21, 0x7f) for _ in range(n)).replace(b"\\", b"/")

    def put(self, key, n, value=None):
        v = value if value is not None else self.value(n)
        self.model[key] = v
        if len(v) > 200:
            return self.cmd("put %s (%d bytes)" % (key.decode(), len(v)),
                            ["put", "--", key, "-"], v)
        return self.cmd("put %s" % key.decode(), ["put", "--", key, v])

    def delete(self, key):
        self.model.pop(key, None)
        return self.cmd("del %s" % key.decode(), ["del", "--", key])

    def load(self, n, size):
        lines = []
        for i in range(n):
            k = b"r%05d" % self.rng.randrange(100000)
            v = self.value(size)
            self.model[k] = v
            lines.append(k + b"\t" + v)
        return self.cmd("import %d records" % n, ["import", "--batch", str(n + 1), "-"],
                        b"\n".join(lines) + b"\n")

    def ref(self, kind, name, delete=False):
        args = [kind, "-d", name] if delete else [kind, name]
        head = self.commits[-1]
        if delete:
            self.refs.pop("%s %s" % (kind, name), None)
        else:
            self.refs["%s %s" % (kind, name)] = head
        return self.cmd("%s %s%s" % (kind, "-d " if delete else "", name), args)

    def run_all(self, short):
        """The workload; short: its first half (for the two-tier stack,
        whose every commit costs twice the crash points)."""
        self.cmd("init", ["init"])
        self.put(b"small", 10)
        self.put(b"big1", 3000)
        self.load(150, 40)
        big1 = self.model[b"big1"]
        self.ref("tag", "v1")
        self.delete(b"small")
        if short:
            return
        self.put(b"big2", 5000)
        self.ref("tag", "v0")
        self.ref("branch", "side")
        self.delete(b"big1")
        self.ref("tag", "v0", delete=True)
        self.put(b"big1", 0, big1)  # a value blob the store already holds
        self.load(60, 30)
        self.put(b"small", 5)


class Checker:
    def __init__(self, binary, wl, template, scratch, seed, keep_base):
        self.binary, self.wl, self.template = binary, wl, template
        self.scratch, self.seed, self.keep_base = scratch, seed, keep_base
        self.index = {c: i for i, c in enumerate(wl.commits)}
        self.seen = {}
        self.lost = self.corrupt = self.states = self.checked = 0
        self.failures = []

    def check(self, state_dir, ack):
        """'' if the state is acceptable, else 'lost: ...' or 'corrupt: ...'."""
        spec = self.template.format(d=state_dir)
        b = self.binary
        if ack is None:     # crashed before init returned: must open or create
            p = run(b, spec, ["put", "probe", "x"])
            if p.returncode != 0:
                return "corrupt: a store whose init never returned takes no commit: %s" % (
                    p.stderr.decode(errors="replace").strip())
            p = run(b, spec, ["verify"])
            if p.returncode != 0:
                return "corrupt: verify after the first commit: %s" % p.stdout.decode(
                    errors="replace").strip()[-400:]
            return ""
        head, refs, what = self.wl.acks[ack]
        p = run(b, spec, ["verify"])
        if p.returncode != 0:
            return "corrupt: verify exit %d: %s %s" % (
                p.returncode, p.stdout.decode(errors="replace").strip()[-400:],
                p.stderr.decode(errors="replace").strip()[-400:])
        p = run(b, spec, ["refs"])
        if p.returncode != 0:
            return "corrupt: refs exit %d: %s" % (p.returncode, p.stderr.decode(errors="replace"))
        have, now = {}, None
        for line in p.stdout.decode().split("\n"):
            if line:
                kind, name, cid = line.split(" ")
                if (kind, name) == ("branch", "main"):
                    now = cid
                else:
                    have["%s %s" % (kind, name)] = cid
        # main's commits form one line (the workload commits only there),
        # and verify has walked the history of the head: a head at or after
        # the acked commit has the acked commit in its history.
        if head is not None:
            if now is None:
                return "lost: main is gone; acked %s after '%s'" % (head[:12], what)
            if now not in self.index:
                return "corrupt: main is %s, a commit the workload never made" % now
            if self.index[now] < self.index[head]:
                return "lost: main is %s (commit %d), acked %s (commit %d) after '%s'" % (
                    now[:12], self.index[now] + 1, head[:12], self.index[head] + 1, what)
        elif now is not None and now not in self.index:
            return "corrupt: main is %s, a commit the workload never made" % now
        if now is not None:
            p = run(b, spec, ["export", "--at", now])
            if p.returncode != 0 or parse_export(p.stdout) != self.wl.contents[now]:
                return "corrupt: the contents of %s differ from what was committed (%s)" % (
                    now[:12], p.stderr.decode(errors="replace").strip())
        # Each ref must hold what the last ack before the crash says or
        # what a later command set (a tag deleted by a command in flight
        # may be gone): never an older value, never a deleted ref back.
        later = self.wl.acks[ack:]
        for name in set(have) | set(refs):
            allowed = {a[1].get(name) for a in later}
            if have.get(name) not in allowed:
                return "lost: ref %s is %s; acked: %s" % (
                    name, have.get(name), refs.get(name, "deleted"))
        p = run(b, spec, ["put", "probe", "after the crash"])
        if p.returncode != 0:
            return "corrupt: the store takes no new commit: %s" % p.stderr.decode(
                errors="replace").strip()
        return ""

    def explore(self, rep, snapshot, log, stack, variants):
        ack_of = {text: int(text) for _, text in rep.acks}
        for k, c in enumerate(rep.points):
            acked = rep.acked_before(c)
            ack = ack_of[acked[-1]] if acked else None
            for v in range(3 + variants):
                self.states += 1
                out = os.path.join(self.scratch, "state")
                shutil.rmtree(out, ignore_errors=True)
                files, dirs = rep.state(k, v, self.seed)
                digest = rep.write_state(files, dirs, out)
                if (digest, ack) in self.seen:
                    continue
                self.checked += 1
                why = self.check(out, ack)
                self.seen[(digest, ack)] = why
                if not why:
                    continue
                if why.startswith("lost"):
                    self.lost += 1
                else:
                    self.corrupt += 1
                if len(self.failures) >= 5:     # keep the first few states only
                    self.failures.append("%s: crash point %d, variant %d: %s" % (
                        stack, k, v, why))
                    continue
                keep = tempfile.mkdtemp(prefix="cairn-powerloss-%s-" % stack, dir=self.keep_base)
                shutil.copytree(snapshot, os.path.join(keep, "snapshot"))
                shutil.copy(log, os.path.join(keep, "log"))
                shutil.move(out, os.path.join(keep, "state"))
                where = rep.ops[c].where if c < len(rep.ops) else "the end of the log"
                self.failures.append(
                    "%s: crash point %d (before %s), variant %d, last ack %s: %s\n"
                    "  kept in %s; rebuild with: python3 %s build %s/snapshot %s/log %d %d %s "
                    "%s/state2\n  then: cairn -s '%s' verify" % (
                        stack, k, where, v, "-" if ack is None else "'%s'" % self.wl.acks[ack][2],
                        why, keep, os.path.abspath(replay.__file__), keep, keep, k, v,
                        self.seed, keep, self.template.format(d=keep + "/state")))
                sys.stderr.write("FAIL " + self.failures[-1] + "\n")


def main():
    binary, shim, scratch = sys.argv[1], sys.argv[2], sys.argv[3]
    seed = int(os.environ.get("CAIRN_TEST_SEED", "20261127"))
    variants = int(os.environ.get("CAIRN_CRASHSIM_VARIANTS", "1"))
    stacks = os.environ.get("CAIRN_CRASHSIM_STACKS", "file,lmdb,follower").split(",")
    # CAIRN_CRASHSIM_IGNORE=fdatasync (or fsync, or both, comma-separated)
    # treats those calls as no-ops in the model: the test must then fail,
    # which shows it can.
    ignore = [k for k in os.environ.get("CAIRN_CRASHSIM_IGNORE", "").split(",") if k]
    keep_base = os.environ.get("CAIRN_CRASHSIM_KEEP", tempfile.gettempdir())
    print("seed %d (rerun with CAIRN_TEST_SEED=%d), %d random variants per crash point "
          "(CAIRN_CRASHSIM_VARIANTS)" % (seed, seed, variants))
    points = lost = corrupt = 0
    failures = []
    for n, stack in enumerate(stacks):
        t0 = time.time()
        base = os.path.realpath(os.path.join(scratch, stack))
        root, snapshot, log = base + "/run", base + "/snapshot", base + "/log"
        for d in (root, snapshot):
            os.makedirs(d)
        with open(log, "wb") as f:
            f.write(b"0 root %s\n" % root.encode())
        wl = Workload(binary, shim, root, log, STACKS[stack].format(d=root),
                      random.Random("%d/%s" % (seed, stack)))
        wl.run_all(short=stack == "follower")
        rep = replay.Replay(snapshot, log, ignore)
        diffs = replay.self_check(rep, root, base + "/selfcheck")
        if diffs:
            sys.stderr.write("FAIL: %s: the shim's log does not replay to the real directory "
                             "(a call the shim does not see?):\n  %s\n" % (
                                 stack, "\n  ".join(diffs[:10])))
            sys.exit(1)
        shutil.rmtree(base + "/selfcheck")
        ck = Checker(binary, wl, STACKS[stack], base, seed, keep_base)
        ck.explore(rep, snapshot, log, stack, variants)
        print("%s: %d commits, %d ops logged (self-check: complete), %d crash points, "
              "%d states, %d distinct checked, %d lost, %d corrupt, %.1f s" % (
                  STACKS[stack].format(d="DIR"), len(wl.commits), len(rep.ops),
                  len(rep.points), ck.states, ck.checked, ck.lost, ck.corrupt,
                  time.time() - t0))
        sys.stdout.flush()
        points += len(rep.points)
        lost += ck.lost
        corrupt += ck.corrupt
        failures += ck.failures
        shutil.rmtree(base)
    print("cairn-summary: crash_points=%d lost_acked=%d corrupt_recoveries=%d"
          % (points, lost, corrupt))
    if failures:
        sys.stderr.write("FAIL (seed %d, rerun with CAIRN_TEST_SEED=%d): %d states failed:\n%s\n"
                         % (seed, seed, len(failures), "\n".join(failures[:20])))
        sys.exit(1)


if __name__ == "__main__":
    try:
        main()
    except Failed as e:
        sys.stderr.write("FAIL: %s\n" % e)
        sys.exit(1)
