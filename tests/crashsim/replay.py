#!/usr/bin/env python3
"""replay.py - builds simulated power-loss states from a log the crash
shim (tests/crashsim/shim.c) recorded; the test driving it is
tests/cli/test_powerloss.sh (see docs/testing.md).

The model of what survives a power cut (the worst case POSIX allows, with
the sector atomicity disks give):

  * Files and directories are inodes. A file's data operations (write,
    truncate, fallocate growth) become durable at the first later fsync or
    fdatasync of that inode (through any fd), or at once when written
    through an fd opened O_SYNC or O_DSYNC. Nothing else makes them
    durable: not close, not rename, not an fsync of the directory.
  * A directory's entry operations (a name created by open O_CREAT, mkdir
    or link; a name removed by unlink or rmdir; both ends of a rename)
    become durable at the first later fsync of that directory. fsync of a
    file does not make its name durable, nor mkdir the new directory's
    name in its parent.
  * sync() and syncfs() make everything durable.
  * At a crash point (just before each fsync, fdatasync, sync, or O_DSYNC
    write, and after the last operation) every operation that is not yet
    durable is kept, dropped, or, if it is a write, torn: the 512-byte
    sectors it touches are kept or dropped (a prefix of them, or any
    subset), or, for a write past the end of the file, only the new size
    survives and the new part reads as zeros. A sector is written whole or
    not at all. Which: all kept, all dropped, every name kept with each
    file's oldest write dropped, or chosen at random (seeded). Kept
    operations are applied in their original order; an O_DSYNC write in
    flight at its own crash point is not yet durable.
  * A rename within one directory is one entry operation. A rename across
    directories is two (the new name, durable with the target directory;
    the old name's removal, durable with the source directory), and the
    removal is never kept without the new name: a file is never lost by a
    rename (every journaling file system keeps the link count right).
  * A name whose directory did not survive is lost with it; what is not
    reachable from the root is gone.

Usage (what a failing test prints, to rebuild one state):
  replay.py check SNAPSHOT LOG FINAL           the self-check
  replay.py points SNAPSHOT LOG                the crash points and acks
  replay.py build SNAPSHOT LOG POINT VARIANT SEED OUT
"""
import hashlib
import os
import random
import sys

SECTOR = 512
O_TRUNC = 0o1000
O_CREAT = 0o100
O_DSYNC = 0o10000
O_SYNC = 0o4010000


class LogError(Exception):
    pass


class Inode:
    __slots__ = ("num", "is_dir", "data", "entries")

    def __init__(self, num, is_dir, data=b"", entries=None):
        self.num = num
        self.is_dir = is_dir
        self.data = data
        self.entries = entries if entries is not None else {}


class Op:
    """One operation of the log. kind: write, trunc, extend (data ops of
    inode), add, del, rename (entry ops of dir), sync (of inode), syncall."""
    __slots__ = ("kind", "inode", "dir", "name", "target", "off", "data", "size",
                 "name2", "pair", "durable_at", "dsync", "where")

    def __init__(self, kind, **kw):
        self.kind = kind
        self.inode = self.dir = self.target = self.pair = None
        self.name = self.name2 = None
        self.off = self.size = 0
        self.data = b""
        self.durable_at = None
        self.dsync = False
        self.where = ""
        for k, v in kw.items():
            setattr(self, k, v)


def unescape(s):
    out, i = bytearray(), 0
    b = s.encode()
    while i < len(b):
        if b[i] == 0x25:
            out.append(int(b[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(b[i])
            i += 1
    return out.decode("utf-8", "surrogateescape")


class Replay:
    """Parses a log against a snapshot; ops, crash points and acks."""

    def __init__(self, snapshot, log_path, ignore=()):
        self.ignore = set(ignore)   # sync calls treated as no-ops (to see the test fail)
        self.inodes = []
        self.root = self._load(snapshot)
        self.root_path = None
        self.ops = []
        self.acks = []      # (number of ops before it, text)
        self._parse(log_path)
        self._durability()
        self.points = [i for i, op in enumerate(self.ops)
                       if op.kind in ("sync", "syncall") or op.dsync] + [len(self.ops)]

    def _new(self, is_dir, data=b"", entries=None):
        ino = Inode(len(self.inodes), is_dir, data, entries)
        self.inodes.append(ino)
        return ino

    def _load(self, path):
        ino = self._new(True)
        for name in sorted(os.listdir(path)):
            p = os.path.join(path, name)
            if os.path.isdir(p) and not os.path.islink(p):
                ino.entries[name] = self._load(p)
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    ino.entries[name] = self._new(False, f.read())
        return ino

    # -- the live namespace, to resolve names while parsing

    def _split(self, path):
        if path == self.root_path:
            return []
        if not path.startswith(self.root_path + "/"):
            raise LogError("path %s is not under the root %s" % (path, self.root_path))
        return path[len(self.root_path) + 1:].split("/")

    def _lookup(self, parts):
        ino = self.root
        for p in parts:
            if not ino.is_dir or p not in self.live[ino.num]:
                return None
            ino = self.live[ino.num][p]
        return ino

    def _parent(self, path):
        parts = self._split(path)
        if not parts:
            raise LogError("an entry operation on the root itself")
        d = self._lookup(parts[:-1])
        if d is None or not d.is_dir:
            raise LogError("no directory for %s" % path)
        return d, parts[-1]

    def _parse(self, log_path):
        with open(log_path, "rb") as f:
            raw = f.read()
        self.live = {ino.num: dict(ino.entries) for ino in self.inodes if ino.is_dir}
        fds = {}
        pos = 0
        line_no = 0
        while pos < len(raw):
            end = raw.index(b"\n", pos)
            line = raw[pos:end].decode("utf-8", "surrogateescape")
            pos = end + 1
            line_no += 1
            f = line.split(" ")
            pid, kind, a = f[0], f[1], f[2:]
            where = "record %d (%s)" % (line_no, line[:160])
            if kind == "root":          # written by the driver first
                self.root_path = a[0]
                continue
            if kind == "ack":
                self.acks.append((len(self.ops), " ".join(a)))
                continue
            if self.root_path is None:
                raise LogError("the log does not start with a root record")
            tab = fds.setdefault(pid, {})

            def fd_inode(fd):
                if fd not in tab:
                    raise LogError("%s: fd %s was never opened" % (where, fd))
                return tab[fd]

            if kind == "open":
                fd, path, flags, created = a[0], unescape(a[1]), int(a[2]), a[3] == "1"
                ino = self._lookup(self._split(path))
                if created:
                    if ino is not None:
                        raise LogError("%s: created a file the log says exists" % where)
                    d, name = self._parent(path)
                    ino = self._new(False)
                    self.live[d.num][name] = ino
                    self.ops.append(Op("add", dir=d, name=name, target=ino, where=where))
                elif ino is None:
                    raise LogError("%s: opened a file the log never made" % where)
                if flags & O_TRUNC and not ino.is_dir:
                    self.ops.append(Op("trunc", inode=ino, size=0, where=where))
                tab[fd] = (ino, bool(flags & (O_DSYNC | O_SYNC)))
            elif kind == "close":
                fd_inode(a[0])
                del tab[a[0]]
            elif kind == "dup":
                tab[a[1]] = fd_inode(a[0])
            elif kind == "write":
                ino, dsync = fd_inode(a[0])
                off, n = int(a[1]), int(a[2])
                data = raw[pos:pos + n]
                if len(data) != n:
                    raise LogError("%s: the log ends inside a write" % where)
                pos += n
                self.ops.append(Op("write", inode=ino, off=off, data=data, dsync=dsync,
                                   where=where))
            elif kind in ("trunc", "extend"):
                ino = fd_inode(a[0])[0]
                self.ops.append(Op(kind, inode=ino, size=int(a[1]), where=where))
            elif kind == "truncp":
                ino = self._lookup(self._split(unescape(a[0])))
                if ino is None:
                    raise LogError("%s: truncate of a missing file" % where)
                self.ops.append(Op("trunc", inode=ino, size=int(a[1]), where=where))
            elif kind in ("fsync", "fdatasync"):
                fd_inode(a[0])
                if kind in self.ignore:
                    continue
                self.ops.append(Op("sync", inode=fd_inode(a[0])[0], where=where))
            elif kind == "syncall":
                self.ops.append(Op("syncall", where=where))
            elif kind == "mkdir":
                d, name = self._parent(unescape(a[0]))
                if name in self.live[d.num]:
                    raise LogError("%s: mkdir of an existing name" % where)
                ino = self._new(True)
                self.live[ino.num] = {}
                self.live[d.num][name] = ino
                self.ops.append(Op("add", dir=d, name=name, target=ino, where=where))
            elif kind in ("unlink", "rmdir"):
                d, name = self._parent(unescape(a[0]))
                if name not in self.live[d.num]:
                    raise LogError("%s: removal of a missing name" % where)
                del self.live[d.num][name]
                self.ops.append(Op("del", dir=d, name=name, where=where))
            elif kind in ("rename", "link"):
                d1, n1 = self._parent(unescape(a[0]))
                d2, n2 = self._parent(unescape(a[1]))
                ino = self.live[d1.num].get(n1)
                if ino is None:
                    raise LogError("%s: %s of a missing name" % (where, kind))
                if kind == "link":
                    self.live[d2.num][n2] = ino
                    self.ops.append(Op("add", dir=d2, name=n2, target=ino, where=where))
                elif d1 is d2 and n1 == n2:
                    pass
                elif d1 is d2:
                    del self.live[d1.num][n1]
                    self.live[d2.num][n2] = ino
                    self.ops.append(Op("rename", dir=d1, name=n1, name2=n2, target=ino,
                                       where=where))
                else:
                    del self.live[d1.num][n1]
                    self.live[d2.num][n2] = ino
                    add = Op("add", dir=d2, name=n2, target=ino, where=where)
                    rm = Op("del", dir=d1, name=n1, pair=add, where=where)
                    self.ops.append(add)
                    self.ops.append(rm)
            else:
                raise LogError("%s: unknown record" % where)

    def _durability(self):
        """durable_at[i]: the index of the op that makes op i durable."""
        pending = {}    # inode num -> ops waiting for its sync
        allp = []
        for i, op in enumerate(self.ops):
            if op.kind in ("write", "trunc", "extend"):
                if op.dsync:
                    op.durable_at = i
                else:
                    pending.setdefault(op.inode.num, []).append(op)
                    allp.append(op)
            elif op.kind in ("add", "del", "rename"):
                pending.setdefault(op.dir.num, []).append(op)
                allp.append(op)
            elif op.kind == "sync":
                for w in pending.pop(op.inode.num, []):
                    if w.durable_at is None:
                        w.durable_at = i
            elif op.kind == "syncall":
                for w in allp:
                    if w.durable_at is None:
                        w.durable_at = i
                pending.clear()
                allp = []

    # -- crash states

    def acked_before(self, point):
        """The acks recorded before the crash point (whose ops all ran)."""
        return [text for n, text in self.acks if n <= point]

    def state(self, point, variant, seed):
        """The crash state at points[point]: variant 0 keeps every pending
        op, 1 drops them all, 2 keeps every name and drops the oldest
        pending write of each file (write-back reached a file's later pages
        but not its first), others choose at random (seeded)."""
        c = self.points[point]
        rng = random.Random("%s/%d/%d" % (seed, point, variant))
        p_keep = rng.choice([0.25, 0.5, 0.75]) if variant > 2 else None
        first_write = set()     # variant 2: the inodes whose oldest write went
        files = {}
        dirs = {}

        def data_of(ino):
            if ino.num not in files:
                files[ino.num] = bytearray(ino.data)
            return files[ino.num]

        def entries_of(ino):
            if ino.num not in dirs:
                dirs[ino.num] = dict(ino.entries)
            return dirs[ino.num]

        def put(buf, off, data):
            if len(buf) < off:
                buf.extend(bytes(off - len(buf)))
            buf[off:off + len(data)] = data

        kept = set()
        last = c + 1 if c < len(self.ops) and self.ops[c].dsync else c
        for i in range(last):
            op = self.ops[i]
            if op.kind in ("sync", "syncall"):
                continue
            durable = op.durable_at is not None and op.durable_at < c
            choice = "keep"
            if not durable:
                if variant == 1:
                    choice = "drop"
                elif variant == 2:
                    if op.kind == "write" and op.inode.num not in first_write:
                        first_write.add(op.inode.num)
                        choice = "drop"
                elif variant > 2:
                    r = rng.random()
                    choice = "keep" if r < p_keep else "drop"
                    if op.kind == "write" and rng.random() < 0.3:
                        choice = "tear"
                if op.pair is not None and id(op.pair) not in kept:
                    choice = "drop"     # a rename never loses the file
            if choice == "drop":
                continue
            kept.add(id(op))
            if op.kind == "write":
                buf = data_of(op.inode)
                if choice == "keep":
                    put(buf, op.off, op.data)
                    continue
                pieces = []     # (offset, bytes) per sector touched
                o = op.off
                while o < op.off + len(op.data):
                    e = min((o // SECTOR + 1) * SECTOR, op.off + len(op.data))
                    pieces.append((o, op.data[o - op.off:e - op.off]))
                    o = e
                r = rng.random()
                end = op.off + len(op.data)
                if r < 0.2 and end > len(buf):
                    # The size reached the disk, the bytes did not: what
                    # lies past the old end reads as zeros.
                    buf.extend(bytes(end - len(buf)))
                    continue
                if r < 0.6:
                    keep = pieces[:rng.randrange(len(pieces) + 1)]
                else:
                    keep = [pc for pc in pieces if rng.random() < 0.5]
                for o, d in keep:
                    put(buf, o, d)
            elif op.kind == "trunc":
                buf = data_of(op.inode)
                del buf[op.size:]
                if len(buf) < op.size:
                    buf.extend(bytes(op.size - len(buf)))
            elif op.kind == "extend":
                buf = data_of(op.inode)
                if len(buf) < op.size:
                    buf.extend(bytes(op.size - len(buf)))
            elif op.kind == "add":
                entries_of(op.dir)[op.name] = op.target
            elif op.kind == "del":
                entries_of(op.dir).pop(op.name, None)
            elif op.kind == "rename":
                ents = entries_of(op.dir)
                if ents.get(op.name) is op.target:
                    del ents[op.name]
                ents[op.name2] = op.target
        return files, dirs

    def write_state(self, files, dirs, out):
        """Writes the tree reachable from the root into out (which must not
        exist); returns a digest of it."""
        h = hashlib.sha256()
        os.mkdir(out)

        def walk(ino, path, rel, seen):
            ents = dirs.get(ino.num, ino.entries)
            for name in sorted(ents):
                child = ents[name]
                p, r = os.path.join(path, name), rel + "/" + name
                if child.is_dir:
                    if child.num in seen:
                        continue
                    os.mkdir(p)
                    h.update(b"D" + r.encode("utf-8", "surrogateescape") + b"\0")
                    walk(child, p, r, seen | {child.num})
                else:
                    data = bytes(files.get(child.num, child.data))
                    with open(p, "wb") as f:
                        f.write(data)
                    h.update(b"F" + r.encode("utf-8", "surrogateescape") + b"\0" +
                             hashlib.sha256(data).digest())
        walk(self.root, out, "", {self.root.num})
        return h.hexdigest()


def tree(path):
    """{relative path: bytes or None for a directory}, lock.mdb left out."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(path):
        rel = os.path.relpath(dirpath, path)
        for d in dirnames:
            out[os.path.normpath(os.path.join(rel, d))] = None
        for name in filenames:
            if name == "lock.mdb":
                continue
            with open(os.path.join(dirpath, name), "rb") as f:
                out[os.path.normpath(os.path.join(rel, name))] = f.read()
    return out


def self_check(rep, final, scratch):
    """Replaying every op onto the snapshot must give the final directory
    byte for byte. Returns a list of differences (empty: the log is
    complete)."""
    files, dirs = rep.state(len(rep.points) - 1, 0, 0)
    rep.write_state(files, dirs, scratch)
    want, got = tree(final), tree(scratch)
    diffs = []
    for p in sorted(set(want) | set(got)):
        if p not in got:
            diffs.append("missing from the replay: %s" % p)
        elif p not in want:
            diffs.append("only in the replay: %s" % p)
        elif want[p] != got[p]:
            diffs.append("differs: %s (%s bytes real, %s replayed)" % (
                p, "dir" if want[p] is None else len(want[p]),
                "dir" if got[p] is None else len(got[p])))
    return diffs


def main(argv):
    if len(argv) >= 4 and argv[1] == "check":
        rep = Replay(argv[2], argv[3])
        import tempfile
        scratch = os.path.join(tempfile.mkdtemp(), "s")
        diffs = self_check(rep, argv[4], scratch)
        for d in diffs:
            print(d)
        print("%d ops, %d crash points, %d acks: %s" % (
            len(rep.ops), len(rep.points), len(rep.acks), "differs" if diffs else "complete"))
        return 1 if diffs else 0
    if len(argv) == 4 and argv[1] == "points":
        rep = Replay(argv[2], argv[3])
        for k, c in enumerate(rep.points):
            acks = rep.acked_before(c)
            where = rep.ops[c].where if c < len(rep.ops) else "the end"
            print("%d: before op %d, %s; last ack: %s" % (k, c, where, acks[-1] if acks else "-"))
        return 0
    if len(argv) == 8 and argv[1] == "build":
        rep = Replay(argv[2], argv[3])
        files, dirs = rep.state(int(argv[4]), int(argv[5]), argv[6])
        print(rep.write_state(files, dirs, argv[7]))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
