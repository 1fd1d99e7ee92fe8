#!/usr/bin/env bash
# test_model.sh - the cairn command against a plain dictionary, as a user
# drives it: random puts (raw bytes, some over the inline limit), deletes of
# present and absent keys (before, between and after the present ones),
# gets, counts and scans of random ranges, tags and branches, on lmdb, file
# and an lmdb store with a file ref tier behind it. Every commit is
# remembered with a copy of the dictionary; at the end every one of them is
# read back by its id (time travel) and compared whole (a third of them
# also by 8-digit prefix and by main~N), and verify runs. A write that
# changes nothing must commit nothing. Seed via CAIRN_TEST_SEED; a failure
# prints it.
# Usage: test_model.sh PATH/TO/cairn
source "$(dirname "$0")/lib.sh" "$@"

python3 - "$bin" "$tmp" "${CAIRN_TEST_SEED:-20261127}" "${CAIRN_TEST_SCALE:-1}" <<'EOF'
import random, subprocess, sys

binary, tmp, seed, scale = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
rng = random.Random(seed)
OPS = int(150 * scale) + 30

def fail(msg):
    sys.stderr.write("FAIL (seed %d, rerun with CAIRN_TEST_SEED=%d): %s\n" % (seed, seed, msg))
    sys.exit(1)

def run(spec, *args, ok=(0,), stdin=None):
    p = subprocess.run([binary, "-s", spec, *args], input=stdin, capture_output=True)
    if p.returncode not in ok:
        fail("cairn %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr.decode(errors="replace")))
    return p

def unescape(field):
    out, i = bytearray(), 0
    while i < len(field):
        c = field[i]
        if c == 0x5c:  # backslash
            n = field[i + 1]
            if n == ord("x"):
                out.append(int(field[i + 2:i + 4], 16)); i += 4; continue
            out.append({ord("t"): 9, ord("n"): 10, ord("r"): 13, 0x5c: 0x5c}[n]); i += 2; continue
        out.append(c); i += 1
    return bytes(out)

def export(spec, at):
    out = run(spec, "export", "--at", at).stdout
    got = {}
    for line in out.split(b"\n"):
        if line:
            k, v = line.split(b"\t", 1)
            got[unescape(k)] = unescape(v)
    return got

def head(spec):
    return run(spec, "log", "-n", "1").stdout.split(b" ", 1)[0].decode()

def key(i):
    return "k%04d" % i

def check_range(spec, model):
    keys = sorted(model)
    lo, hi = sorted(rng.sample(range(0, 400), 2))
    want = [k for k in keys if key(lo).encode() <= k < key(hi).encode()]
    got = run(spec, "count", "--from", key(lo), "--to", key(hi)).stdout.strip()
    if int(got) != len(want):
        fail("count [%s, %s): %s, model %d" % (key(lo), key(hi), got, len(want)))
    rev = rng.random() < 0.5
    args = ["scan", "--from", key(lo), "--to", key(hi), "--limit", "20"] + (["--reverse"] if rev else [])
    lines = [l for l in run(spec, *args).stdout.split(b"\n") if l]
    exp = (list(reversed(want)) if rev else want)[:20]
    if [unescape(l.split(b"\t", 1)[0]) for l in lines] != exp:
        fail("scan %s: %r, model %r" % (args, lines[:3], exp[:3]))

def run_stack(spec):
    model, versions = {}, []
    run(spec, "init")
    for op in range(OPS):
        r = rng.random()
        before = head(spec)
        if r < 0.40:
            k = key(rng.randrange(400))
            n = rng.choice([0, 1, 10, 200, 1500])
            v = bytes(rng.randrange(0x20, 0x7f) for _ in range(n))
            if rng.random() < 0.1 and k.encode() in model:
                v = model[k.encode()]            # an equal value: no change
            if n > 1000:
                run(spec, "put", "--", k, "-", stdin=v)
            else:
                run(spec, "put", "--", k, v.decode())
            changed = model.get(k.encode()) != v
            model[k.encode()] = v
        elif r < 0.60:
            if model and rng.random() < 0.5:
                k = rng.choice(sorted(model))
            else:                                # absent: before, between, after
                k = rng.choice([b"a", b"k0000\x20", b"z", b"k%04d-x" % rng.randrange(400)])
                if k in model:
                    continue
            run(spec, "del", "--", k.decode())
            changed = k in model
            model.pop(k, None)
        elif r < 0.75:
            k = key(rng.randrange(400)).encode()
            p = run(spec, "get", k.decode(), ok=(0, 1))
            if (p.returncode == 0) != (k in model) or (k in model and p.stdout != model[k] + b"\n"):
                fail("get %s: exit %d %r, model %r" % (k, p.returncode, p.stdout[:40], model.get(k, b"")[:40]))
            continue
        elif r < 0.85:
            check_range(spec, model)
            continue
        elif r < 0.90 and versions:
            run(spec, "tag", "t%d" % op)
            continue
        else:
            if versions:
                run(spec, "branch", "b%d" % op, "--at", rng.choice(versions)[0])
            continue
        now = head(spec)
        if changed:
            if now == before:
                fail("op %d changed the model but wrote no commit" % op)
            versions.append((now, dict(model)))
        elif now != before:
            fail("op %d changed nothing but wrote commit %s" % (op, now))
    # time travel to every commit, three ways
    n = len(versions)
    for i, (commit, snap) in enumerate(versions):
        ways = (commit, commit[:8], "main~%d" % (n - 1 - i)) if i % 3 == 0 else (commit,)
        for at in ways:
            if export(spec, at) != snap:
                fail("version %d of %d read as %s differs from the model" % (i + 1, n, at))
    run(spec, "verify")
    print("%s: %d operations, %d commits, each read back (a third also by prefix and main~N)"
          % (spec, OPS, n))

run_stack("lmdb:%s/l" % tmp)
run_stack("file:%s/f" % tmp)
run_stack("lmdb:%s/p>file:%s/r" % (tmp, tmp))
EOF
echo ok
