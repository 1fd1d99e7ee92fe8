#!/usr/bin/python3
"""serve_client.py - real clients against `cairn serve` (tests/cli/test_serve.sh).

Usage: serve_client.py MODE PORT [ARGS...]

  model PORT EXPORT.tsv SEED   every key of the store's export read through
                               redis-py (GET, MGET, EXISTS, STRLEN, GETRANGE,
                               TYPE, TTL, SCAN with MATCH and COUNT, KEYS,
                               DBSIZE, RANDOMKEY-free) against the export, with
                               pipelines, from many threads at once
  raw PORT                     RESP by hand: RESP3 (HELLO 3), pipelining in one
                               write, inline commands, malformed and oversized
                               requests (each closes its own connection only)
  hashes PORT RECORDS.jsonl SEED  a store loaded from typed jsonl records (strings and
                               hashes): the hash commands (HGET HMGET HGETALL HLEN
                               HEXISTS HKEYS HVALS HSTRLEN HSCAN), TYPE, WRONGTYPE,
                               DBSIZE, SCAN TYPE, RANDOMKEY, MEMORY USAGE
  versions PORT N_KEYS SECONDS hammers MGET, and transactions (MULTI, GETs, EXEC),
                               of all keys from 8 threads while the served version
                               switches: every reply must hold one version (all
                               values equal); prints the versions seen
  scan PORT PORT2 CAIRN SPEC SEED  SCAN and HSCAN cursors: 63-bit numbers, continued by
                               a second server (PORT2) on the same version, and
                               across switches made by `CAIRN -s SPEC apply/import`
  tx PORT CAIRN SPEC           MULTI EXEC DISCARD WATCH UNWATCH on a following
                               server, the version switched by `CAIRN -s SPEC put`
                               (the key v000) under a WATCH and a queued MULTI
"""
import os
import random
import socket
import subprocess
import sys
import threading
import time

import redis


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def run_clients(fn, n):
    """Runs fn(tid, errors) in n threads at once; fails with their first errors."""
    errors = []
    threads = [threading.Thread(target=fn, args=(t, errors)) for t in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        fail("; ".join(errors[:3]))


def unescape(field):
    out = bytearray()
    i = 0
    while i < len(field):
        c = field[i]
        if c == 0x5C and i + 1 < len(field):  # backslash: tsv escapes
            n = field[i + 1]
            if n == ord('t'):
                out.append(9)
            elif n == ord('n'):
                out.append(10)
            elif n == ord('r'):
                out.append(13)
            elif n == ord('\\'):
                out.append(0x5C)
            elif n == ord('x'):
                out.append(int(field[i + 2:i + 4], 16))
                i += 2
            else:
                out.append(n)
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out)


def load_export(path):
    model = {}
    with open(path, 'rb') as f:
        for line in f:
            line = line.rstrip(b'\n')
            k, v = line.split(b'\t', 1)
            model[unescape(k)] = unescape(v)
    return model


def glob_to_keys(model, pattern):
    import fnmatch
    return sorted(k for k in model if fnmatch.fnmatchcase(k.decode('latin-1'), pattern))


def mode_model(port, export, seed):
    model = load_export(export)
    keys = sorted(model)
    rnd = random.Random(int(seed))
    r = redis.Redis(host='127.0.0.1', port=port)
    if r.dbsize() != len(model):
        fail("DBSIZE %d, the export has %d keys" % (r.dbsize(), len(model)))
    for k in keys:
        if r.get(k) != model[k]:
            fail("GET %r" % k)
        if r.strlen(k) != len(model[k]):
            fail("STRLEN %r" % k)
        if r.type(k) != b'string' or r.ttl(k) != -1 or r.pttl(k) != -1:
            fail("TYPE/TTL/PTTL %r" % k)
        a, b = rnd.randint(-5, 5), rnd.randint(-5, 5)
        want = model[k][a:(b + 1 if b != -1 else None)] if True else None
        got = r.getrange(k, a, b)
        # Redis's rules, computed here independently of the server's code
        n = len(model[k])
        s, e = a, b
        if s < 0 and e < 0 and s > e:
            want = b''
        else:
            s = s + n if s < 0 else s
            e = e + n if e < 0 else e
            s = max(s, 0)
            e = max(e, 0)
            e = min(e, n - 1)
            want = b'' if n == 0 or s > e else model[k][s:e + 1]
        if got != want:
            fail("GETRANGE %r %d %d: %r, want %r" % (k, a, b, got, want))
    absent = [b'no-such-key-%d' % i for i in range(20)]
    for k in absent:
        if r.get(k) is not None or r.exists(k) != 0 or r.type(k) != b'none' or r.ttl(k) != -2:
            fail("an absent key %r" % k)
    for i in range(50):
        # every other batch longer than cairn_get_many's 64
        size = rnd.randint(1, 40) if i % 2 else rnd.randint(60, 200)
        batch = rnd.sample(keys, min(len(keys), size)) + rnd.sample(absent, 3)
        rnd.shuffle(batch)
        got = r.mget(batch)
        if got != [model.get(k) for k in batch]:
            fail("MGET of %d keys" % len(batch))
        if r.exists(*batch) != sum(1 for k in batch if k in model):
            fail("EXISTS of %d keys" % len(batch))
    # SCAN: every key exactly once, whatever COUNT; MATCH filters
    for count in (1, 3, 10, 1000):
        seen, cursor, calls = [], 0, 0
        while True:
            cursor, batch = r.scan(cursor=cursor, count=count)
            seen += batch
            calls += 1
            if cursor == 0:
                break
            if calls > len(keys) + 5:
                fail("SCAN COUNT %d does not end" % count)
        if sorted(seen) != keys:
            fail("SCAN COUNT %d returned %d keys, want %d" % (count, len(seen), len(keys)))
    for pattern in ('k*', '*1*', 'k?', 'x[ab]*', '*'):
        got = sorted(r.scan_iter(match=pattern, count=7))
        if got != glob_to_keys(model, pattern):
            fail("SCAN MATCH %s" % pattern)
        if sorted(r.keys(pattern)) != glob_to_keys(model, pattern):
            fail("KEYS %s" % pattern)
    # pipelines, and many clients at once
    def client(tid, errors):
        try:
            c = redis.Redis(host='127.0.0.1', port=port)
            lr = random.Random(int(seed) * 100 + tid)
            for _ in range(30):
                p = c.pipeline(transaction=False)
                batch = lr.sample(keys, min(len(keys), 16))
                for k in batch:
                    p.get(k)
                if p.execute() != [model[k] for k in batch]:
                    errors.append("pipeline of client %d" % tid)
                    return
        except Exception as e:  # noqa: BLE001 (any failure is the test's)
            errors.append("client %d: %r" % (tid, e))
    run_clients(client, 40)
    # errors a replica gives
    for cmd in (('SET', 'a', 'b'), ('DEL', 'a'), ('HSET', 'h', 'f', 'v'), ('FLUSHALL',)):
        try:
            r.execute_command(*cmd)
            fail("%s was not refused" % cmd[0])
        except redis.exceptions.ReadOnlyError:
            pass
    try:
        r.execute_command('NOSUCHCOMMAND', 'x')
        fail("an unknown command was accepted")
    except redis.exceptions.ResponseError as e:
        if 'unknown command' not in str(e):
            fail("unknown command: %s" % e)
    print("model: %d keys read through redis-py (GET MGET EXISTS STRLEN GETRANGE TYPE TTL "
          "SCAN KEYS DBSIZE), 40 pipelining clients at once, writes READONLY" % len(keys))


def resp_read(f):
    """One RESP2/RESP3 reply from a file object, as Python values."""
    line = f.readline()
    if not line:
        raise EOFError("connection closed")
    t, rest = line[:1], line[1:-2]
    if t in (b'+', b'-'):
        return (t + rest).decode()
    if t in (b':',):
        return int(rest)
    if t in (b'$', b'='):
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data
    if t == b'_':
        return None
    if t in (b'*', b'~'):
        n = int(rest)
        return None if n < 0 else [resp_read(f) for _ in range(n)]
    if t == b'%':
        return dict((resp_read(f), resp_read(f)) for _ in range(int(rest)))
    if t == b'#':
        return rest == b't'
    raise ValueError("unknown reply type %r" % line)


def conn(port):
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    return s, s.makefile('rb')


def mode_raw(port):
    s, f = conn(port)
    s.sendall(b'*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n')
    hello = resp_read(f)
    if not isinstance(hello, dict) or hello.get(b'proto') != 3:
        fail("HELLO 3: %r" % hello)
    s.sendall(b'*2\r\n$3\r\nGET\r\n$13\r\nno-such-key-x\r\n')
    got = f.readline()
    if got != b'_\r\n':
        fail("RESP3 null: %r" % got)
    # a pipeline in one write, inline commands among them
    s.sendall(b'PING\r\n*2\r\n$4\r\nECHO\r\n$3\r\na\x00b\r\nECHO "c d"\r\n*1\r\n$4\r\nPING\r\n')
    replies = [resp_read(f) for _ in range(4)]
    if replies != ['+PONG', b'a\x00b', b'c d', '+PONG']:
        fail("pipeline: %r" % replies)
    s.close()
    # malformed requests: an error reply, then that connection closes;
    # a bystander connection goes on
    by, byf = conn(port)
    bad = [
        (b'*2\r\n$3\r\nGET\r\n$-5\r\n', 'invalid bulk length'),
        (b'*x\r\n', 'invalid multibulk length'),
        (b'*2\r\n+GET\r\n', "expected '$'"),
        (b'*1\r\n$999999999999\r\n', 'invalid bulk length'),
        (b'*3000000\r\n', 'invalid multibulk length'),
        (b'GET "unbalanced\r\n', 'unbalanced'),
        (b'A' * 70000, 'too big inline request'),
    ]
    for req, want in bad:
        for _ in range(2):
            s, f = conn(port)
            s.sendall(req)
            reply = resp_read(f)
            if not isinstance(reply, str) or want not in reply:
                fail("malformed %r: %r" % (req[:30], reply))
            if f.read(1) != b'':
                fail("malformed %r: the connection stayed open" % (req[:30],))
            s.close()
            by.sendall(b'PING\r\n')
            if resp_read(byf) != '+PONG':
                fail("a bystander after %r" % (req[:30],))
    # A slow reader: 2000 pipelined ECHOs of 60 KB (120 MB of replies) sent
    # while it reads nothing. The server stops reading its requests while
    # replies wait, so its memory stays bounded and a bystander is served;
    # then the reader takes every reply, none lost.
    def rss():
        by.sendall(b'INFO memory\r\n')
        text = resp_read(byf).decode()
        return int(text.split('used_memory_rss:')[1].split()[0])
    rss_before = rss()
    slow, slowf = conn(port)
    slow.settimeout(120)
    arg = bytes(range(256)) * 234 + b'end'
    request = b'*2\r\n$4\r\nECHO\r\n$%d\r\n%s\r\n' % (len(arg), arg)
    sender = threading.Thread(target=lambda: slow.sendall(request * 2000))
    sender.start()
    time.sleep(1)
    for _ in range(20):
        by.sendall(b'PING\r\n')
        if resp_read(byf) != '+PONG':
            fail("a bystander while a client reads nothing")
    grown = rss() - rss_before
    if grown > 64 << 20:
        fail("the server grew by %d MB for a client that reads nothing" % (grown >> 20))
    for i in range(2000):
        if resp_read(slowf) != arg:
            fail("the slow reader's reply %d" % i)
    sender.join()
    slow.close()
    by.close()
    print("raw: RESP3 via HELLO 3, a mixed pipeline in one write, %d malformed requests each "
          "refused twice and closed, a bystander unaffected; a client reading nothing of 120 MB "
          "of replies grew the server by %d MB, then got them all" % (len(bad), grown >> 20))


def mode_hashes(port, path, seed):
    import json
    strings, hashes = {}, {}
    with open(path, 'rb') as f:
        for line in f:
            rec = json.loads(line)
            k = rec['key'].encode('utf-8', 'surrogateescape')
            if rec['type'] == 'string':
                strings[k] = rec['value'].encode('utf-8', 'surrogateescape')
            else:
                hashes[k] = {fk.encode('utf-8', 'surrogateescape'): fv.encode('utf-8', 'surrogateescape')
                             for fk, fv in rec['value'].items()}
    rnd = random.Random(int(seed))
    r = redis.Redis(host='127.0.0.1', port=port)
    if r.dbsize() != len(strings) + len(hashes):
        fail("DBSIZE %d, want %d" % (r.dbsize(), len(strings) + len(hashes)))
    if r.info('keyspace').get('db0', {}).get('keys') != len(strings) + len(hashes):
        fail("INFO keyspace %r, want %d keys" % (r.info('keyspace'), len(strings) + len(hashes)))
    ic = r.info('cairn')
    if not isinstance(ic.get('tier0_spec'), str) or not isinstance(ic.get('tier0_gets'), int) or \
            len(ic.get('commit', '')) != 64:
        fail("INFO cairn as redis-py parses it: %r" % ic)
    info = r.client_info()  # redis-py parses every field Redis 7 gives
    if info['db'] != 0 or info['multi'] != -1 or info['laddr'] != '127.0.0.1:%d' % port:
        fail("CLIENT INFO %r" % info)
    for h, fields in hashes.items():
        if r.type(h) != b'hash' or r.hlen(h) != len(fields) or r.ttl(h) != -1:
            fail("TYPE/HLEN/TTL of hash %r" % h)
        if r.hgetall(h) != fields:
            fail("HGETALL %r" % h)
        if r.hkeys(h) != sorted(fields) or r.hvals(h) != [fields[f] for f in sorted(fields)]:
            fail("HKEYS/HVALS %r (field order)" % h)
        for f, v in fields.items():
            if r.hget(h, f) != v or not r.hexists(h, f) or r.hstrlen(h, f) != len(v):
                fail("HGET/HEXISTS/HSTRLEN %r %r" % (h, f))
        if r.memory_usage(h, samples=0) != len(h) + sum(len(f) + len(v) for f, v in fields.items()):
            fail("MEMORY USAGE %r SAMPLES 0" % h)
        if r.hget(h, b'no-such-field') is not None or r.hexists(h, b'no-such-field'):
            fail("an absent field of %r" % h)
        pick = rnd.sample(sorted(fields), min(3, len(fields))) + [b'nope']
        if r.hmget(h, pick) != [fields.get(f) for f in pick]:
            fail("HMGET %r" % h)
        for count in (1, 2, 100):
            got, cursor, calls = {}, 0, 0
            while True:
                cursor, batch = r.hscan(h, cursor=cursor, count=count)
                got.update(batch)
                calls += 1
                if cursor == 0 or calls > len(fields) + 3:
                    break
            if got != fields:
                fail("HSCAN %r COUNT %d" % (h, count))
        try:
            r.get(h)
            fail("GET of a hash answered")
        except redis.exceptions.ResponseError as e:
            if 'WRONGTYPE' not in str(e):
                fail("GET of a hash: %s" % e)
    for k, v in strings.items():
        if r.get(k) != v or r.type(k) != b'string':
            fail("string %r" % k)
        if r.memory_usage(k) != len(k) + len(v):
            fail("MEMORY USAGE %r" % k)
        try:
            r.hget(k, b'f')
            fail("HGET of a string answered")
        except redis.exceptions.ResponseError as e:
            if 'WRONGTYPE' not in str(e):
                fail("HGET of a string: %s" % e)
    if r.memory_usage(b'no-such-key') is not None:
        fail("MEMORY USAGE of no key")
    if r.hgetall(b'no-such-hash') != {} or r.hlen(b'no-such-hash') != 0:
        fail("an absent hash")
    if sorted(r.scan_iter(_type='hash', count=3)) != sorted(hashes):
        fail("SCAN TYPE hash")
    if sorted(r.scan_iter(_type='string', count=3)) != sorted(strings):
        fail("SCAN TYPE string")
    if sorted(r.scan_iter(count=5)) != sorted(list(hashes) + list(strings)):
        fail("SCAN of strings and hashes")
    every = set(hashes) | set(strings)
    drawn = {}
    for _ in range(40 * len(every)):
        k = r.randomkey()
        if k not in every:
            fail("RANDOMKEY gave %r" % k)
        drawn[k] = drawn.get(k, 0) + 1
    if set(drawn) != every:
        fail("RANDOMKEY never drew %d of %d keys" % (len(every - set(drawn)), len(every)))
    # Pipelined GETs run together in the server (up to 64 at a time): each
    # must still answer as alone, a hash WRONGTYPE in its place, whatever
    # else the pipeline holds between them.
    names = sorted(every) + [b'absent-%d' % i for i in range(10)]
    for round_ in range(20):
        p = r.pipeline(transaction=False)
        want = []
        # long runs of GETs, or short ones (a GET alone among others)
        other = 0.05 if round_ % 2 else 0.5
        for _ in range(rnd.randint(1, 200)):
            k = rnd.choice(names)
            if rnd.random() < other:
                p.strlen(k) if k not in hashes else p.hlen(k)
                want.append(len(strings[k]) if k in strings else
                            len(hashes[k]) if k in hashes else 0)
                continue
            p.get(k)
            want.append('WRONGTYPE' if k in hashes else strings.get(k))
        got = p.execute(raise_on_error=False)
        for g, w in zip(got, want):
            if w == 'WRONGTYPE':
                if not isinstance(g, redis.exceptions.ResponseError) or 'WRONGTYPE' not in str(g):
                    fail("pipelined GET of a hash: %r" % g)
            elif g != w:
                fail("pipelined GET, round %d: %r, want %r" % (round_, g, w))
        if len(got) != len(want):
            fail("pipeline: %d replies for %d commands" % (len(got), len(want)))
    # The same through a raw socket, sent in pieces cut anywhere (a run of
    # GETs then meets requests not complete yet), with inline GETs among
    # them, and ending in a malformed request: every GET before it is
    # answered, then the protocol error, then the connection closes.
    def bulk(*args):
        out = b'*%d\r\n' % len(args)
        for a in args:
            out += b'$%d\r\n%s\r\n' % (len(a), a)
        return out
    plain = [k for k in names if all(32 < c < 127 and c != 34 for c in k)]
    for round_ in range(6):
        stream, want = b'', []
        for _ in range(rnd.randint(50, 300)):
            k = rnd.choice(names)
            if rnd.random() < 0.1 and k in plain:
                stream += b'GET ' + k + b'\r\n'  # inline: never joins a run
            elif rnd.random() < 0.05:
                stream += bulk(b'STRLEN', k) if k not in hashes else bulk(b'HLEN', k)
                want.append(len(strings[k]) if k in strings else
                            len(hashes[k]) if k in hashes else 0)
                continue
            else:
                stream += bulk(b'GET', k)
            want.append('-WRONGTYPE' if k in hashes else strings.get(k))
        stream += b'*2\r\n$3\r\nGET\r\n$-5\r\n'
        s, f = conn(port)
        at = 0
        while at < len(stream):
            n = rnd.randint(1, 64)
            s.sendall(stream[at:at + n])
            at += n
            if rnd.random() < 0.1:
                time.sleep(0.001)
        for i, w in enumerate(want):
            g = resp_read(f)
            if w == '-WRONGTYPE' and not (isinstance(g, str) and g.startswith('-WRONGTYPE')):
                fail("chunked pipeline, reply %d: %r, want WRONGTYPE" % (i, g))
            elif w != '-WRONGTYPE' and g != w:
                fail("chunked pipeline, round %d, reply %d: %r, want %r" % (round_, i, g, w))
        g = resp_read(f)
        if not (isinstance(g, str) and 'invalid bulk length' in g):
            fail("chunked pipeline: the malformed request's reply: %r" % g)
        if f.read(1) != b'':
            fail("chunked pipeline: the connection stayed open after a protocol error")
        s.close()
    print("hashes: %d hashes and %d strings: HGET HMGET HGETALL HLEN HEXISTS HKEYS HVALS "
          "HSTRLEN HSCAN, TYPE, WRONGTYPE both ways, DBSIZE, SCAN TYPE, MEMORY USAGE, "
          "RANDOMKEY drew every key, pipelines of up to 200 GETs among other commands, and "
          "sent in pieces cut anywhere"
          % (len(hashes), len(strings)))


def mode_versions(port, n_keys, seconds):
    keys = ['v%03d' % i for i in range(n_keys)]
    stop = time.time() + seconds
    seen = set()

    def hammer(tid, errors):
        try:
            c = redis.Redis(host='127.0.0.1', port=port)
            while time.time() < stop:
                if tid % 2:
                    vals = c.mget(keys)
                else:  # a transaction of GETs: EXEC reads one version too
                    p = c.pipeline(transaction=True)
                    for k in keys:
                        p.get(k)
                    vals = p.execute()
                if len(set(vals)) != 1:
                    errors.append("one %s held several versions: %r"
                                  % ("MGET" if tid % 2 else "EXEC", sorted(set(vals))[:4]))
                    return
                seen.add(vals[0])
        except Exception as e:  # noqa: BLE001
            errors.append("client %d: %r" % (tid, e))
    run_clients(hammer, 8)
    print(" ".join(sorted(v.decode() for v in seen)))


def mode_tx(port, cairn, spec):
    """MULTI/EXEC/DISCARD/WATCH/UNWATCH, with the version switched under
    a WATCH by a writer (cairn put) while the server follows."""
    r = redis.Redis(host='127.0.0.1', port=port)
    other = redis.Redis(host='127.0.0.1', port=port)

    def publish(value):
        before = other.execute_command('CAIRN.VERSION')
        subprocess.run([cairn, '-s', spec, 'put', 'v000', value], check=True,
                       stdout=subprocess.DEVNULL)
        for _ in range(200):
            if other.execute_command('CAIRN.VERSION') != before:
                return
            time.sleep(0.05)
        fail("the server did not switch to the version put")

    # WATCH then a switch: EXEC fails (redis-py: WatchError)
    with r.pipeline(transaction=True) as p:
        p.watch('v000')
        publish('tx1')
        p.multi()
        p.get('v000')
        try:
            p.execute()
            fail("EXEC ran although the version changed since WATCH")
        except redis.exceptions.WatchError:
            pass
    # WATCH with no switch: EXEC runs
    with r.pipeline(transaction=True) as p:
        p.watch('v000')
        p.multi()
        p.get('v000')
        p.mget(['v000', 'v001'])
        got = p.execute()
        if got[0] != b'tx1' or got[1][0] != b'tx1':
            fail("EXEC after an unchanged WATCH: %r" % got)
    # UNWATCH forgets it
    with r.pipeline(transaction=True) as p:
        p.watch('v000')
        p.unwatch()
        publish('tx2')
        p.multi()
        p.get('v000')
        if p.execute() != [b'tx2']:
            fail("EXEC after UNWATCH")
    # the queue runs at EXEC, on the version served then, whole
    s, f = conn(port)
    s.sendall(b'MULTI\r\nGET v000\r\nGET v001\r\n')
    for want in ('+OK', '+QUEUED', '+QUEUED'):
        if resp_read(f) != want:
            fail("MULTI/QUEUED")
    publish('tx3')
    s.sendall(b'GET v000\r\nEXEC\r\n')
    if resp_read(f) != '+QUEUED':
        fail("QUEUED")
    got = resp_read(f)
    if got[0] != b'tx3' or got[2] != b'tx3':
        fail("EXEC did not run on the version served at EXEC: %r" % got)
    # a refused command (a write, unknown, wrong arity) aborts the EXEC;
    # MULTI does not nest; WATCH inside MULTI is refused; DISCARD drops
    for bad in (b'SET a b', b'NOSUCH x', b'GET', b'HELLO 3'):
        s.sendall(b'MULTI\r\nGET v000\r\n' + bad + b'\r\nGET v001\r\nEXEC\r\n')
        got = [resp_read(f) for _ in range(5)]
        if got[:2] != ['+OK', '+QUEUED'] or not got[2].startswith('-') or got[3] != '+QUEUED' or \
                not str(got[4]).startswith('-EXECABORT'):
            fail("MULTI with %r: %r" % (bad, got))
    s.sendall(b'MULTI\r\nMULTI\r\nWATCH x\r\nGET v000\r\nDISCARD\r\nEXEC\r\nDISCARD\r\n')
    got = [resp_read(f) for _ in range(7)]
    if got[0] != '+OK' or 'nested' not in got[1] or 'WATCH inside MULTI' not in got[2] or \
            got[3] != '+QUEUED' or got[4] != '+OK' or 'EXEC without MULTI' not in got[5] or \
            'DISCARD without MULTI' not in got[6]:
        fail("MULTI errors: %r" % got)
    s.close()
    print("transactions: WATCH fails across a switch and holds without one, UNWATCH, "
          "EXEC reads the version served at EXEC, refused commands abort, nesting refused")


def mode_scan(port, port2, cairn, spec, seed):
    """SCAN and HSCAN cursors: plain 64-bit numbers; continued by a replica
    serving the same version; and across version switches, where every key
    present throughout is returned exactly once and keys come in key
    order, however many keys are added and removed around the cursor."""
    import json
    import tempfile
    rnd = random.Random(int(seed))
    r = redis.Redis(host='127.0.0.1', port=port)
    r2 = redis.Redis(host='127.0.0.1', port=port2)
    work = tempfile.mkdtemp()

    def publish(puts=(), dels=(), records=()):
        before = r.execute_command('CAIRN.VERSION')
        path = os.path.join(work, 'batch')
        if records:
            with open(path, 'w') as f:
                for rec in records:
                    f.write(json.dumps(rec) + '\n')
            cmd = [cairn, '-s', spec, 'import', '--format', 'jsonl', '--key', 'key', path]
        else:
            with open(path, 'w') as f:
                for k in puts:
                    f.write('put\t%s\tx\n' % k)
                for k in dels:
                    f.write('del\t%s\n' % k)
            cmd = [cairn, '-s', spec, 'apply', path]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if r.execute_command('CAIRN.VERSION') != before:
                return
            time.sleep(0.05)
        fail("the server did not switch to the version published")

    fields = {'f%03d' % i: 'v' for i in range(0, 400, 2)}
    publish(records=[{'key': 'scanhash', 'type': 'hash', 'value': fields}])
    publish(puts=['s%04d' % i for i in range(0, 3000, 10)])
    for _ in range(200):  # the replica on the same version
        if r2.execute_command('CAIRN.VERSION') == r.execute_command('CAIRN.VERSION'):
            break
        time.sleep(0.05)
    every = sorted(r.keys('*'))
    # Cursors are numbers clients hold in 64 bits; a replica continues them.
    got, cursor, calls = [], 0, 0
    while True:
        cursor, batch = (r if calls % 2 else r2).scan(cursor=cursor, count=5)
        if not 0 <= cursor < 2 ** 63:
            fail("cursor %d does not fit 63 bits" % cursor)
        got += batch
        calls += 1
        if cursor == 0 or calls > len(every) + 5:
            break
    if got != every:
        fail("SCAN alternating between two replicas of one version: %d keys, want %d"
             % (len(got), len(every)))
    # Keys added and removed around the cursor between calls.
    existed, deleted, added, switches = set(every), set(), 0, 0
    got, cursor, calls = [], 0, 0
    while True:
        cursor, batch = r.scan(cursor=cursor, count=7)
        got += batch
        calls += 1
        if cursor == 0 or calls > 10 * len(every):
            break
        if calls % 6 == 0:
            live = sorted(existed - deleted)
            dels = rnd.sample([k for k in live if k.startswith(b's')], 4)
            puts = ['s%04d' % rnd.randrange(3000) + rnd.choice(['', 'a', 'zz']) for _ in range(4)]
            publish(puts=puts, dels=[k.decode() for k in dels])
            deleted |= set(dels)
            existed |= set(p.encode() for p in puts)
            added += len(puts)
            switches += 1
    if got != sorted(set(got)):
        fail("SCAN across switches repeated a key or left key order")
    missing = set(every) - deleted - set(got)
    if missing:
        fail("SCAN across switches missed %d keys present throughout, e.g. %r"
             % (len(missing), sorted(missing)[:3]))
    if set(got) - existed:
        fail("SCAN returned keys that never existed: %r" % sorted(set(got) - existed)[:3])
    # HSCAN: the hash's fields replaced between calls.
    hexisted, hdeleted = set(f.encode() for f in fields), set()
    got, cursor, calls = [], 0, 0
    while True:
        cursor, batch = r.hscan('scanhash', cursor=cursor, count=7)
        got += sorted(batch)
        calls += 1
        if cursor == 0 or calls > 1000:
            break
        if calls % 5 == 0:
            for f in rnd.sample(sorted(fields), 5):
                del fields[f]
                hdeleted.add(f.encode())
            for _ in range(5):
                f = 'f%03d%s' % (rnd.randrange(400), rnd.choice(['', 'b']))
                fields[f] = 'w'
                hexisted.add(f.encode())
            publish(records=[{'key': 'scanhash', 'type': 'hash', 'value': fields}])
            switches += 1
    if got != sorted(set(got)):
        fail("HSCAN across switches repeated a field or left field order")
    hmissing = set(f.encode() for f in ('f%03d' % i for i in range(0, 400, 2))) - hdeleted - set(got)
    if hmissing or set(got) - hexisted:
        fail("HSCAN across switches: missed %r, never existed %r"
             % (sorted(hmissing)[:3], sorted(set(got) - hexisted)[:3]))
    # cursors no server made: a valid number goes on somewhere, others fail
    r.scan(cursor=12345)
    for name in (b'x' * 1025, b'y' * 70000):  # no hash has so long a name
        if r.hscan(name, cursor=0) != (0, {}) or r.hscan(name, cursor=123) != (0, {}):
            fail("HSCAN of a %d-byte name" % len(name))
    for bad in (2 ** 63, 2 ** 64 + 5, 5 << 43, -1):
        try:
            r.execute_command('SCAN', bad)
            fail("SCAN %d was accepted" % bad)
        except redis.exceptions.ResponseError as e:
            if 'invalid cursor' not in str(e):
                fail("SCAN %d: %s" % (bad, e))
    print("scan: cursors below 2^63, continued across two replicas; %d switches during a "
          "SCAN (%d keys added) and an HSCAN (fields replaced): every key present throughout once, in order"
          % (switches, added))


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == 'model':
        mode_model(port, sys.argv[3], sys.argv[4])
    elif mode == 'raw':
        mode_raw(port)
    elif mode == 'hashes':
        mode_hashes(port, sys.argv[3], sys.argv[4])
    elif mode == 'scan':
        mode_scan(port, int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6])
    elif mode == 'tx':
        mode_tx(port, sys.argv[3], sys.argv[4])
    elif mode == 'versions':
        mode_versions(port, int(sys.argv[3]), float(sys.argv[4]))
    else:
        fail("unknown mode " + mode)


main()
