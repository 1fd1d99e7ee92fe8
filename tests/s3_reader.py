#!/usr/bin/env python3
"""s3_reader.py - an independent reader of a cairn S3 store, written from
docs/format.md alone ("Blobs and ids", "Refs", "Packs", "Tier layouts" > "s3"),
with nothing but the Python standard library (its own SigV4 signing and XXH64).

Usage: python3 tests/s3_reader.py BUCKET PREFIX
Environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL,
AWS_REGION (default us-east-1); path-style addressing.

It GETs PREFIX/head and validates every rule of the head, fetches each live
pack's index and footer with one suffix-range GET, checks the size, the INDEX
hash, the count, the footer (magic, version, reserved, count, index_offset,
XXH64 checksum), the index (ascending ids, records tiling the record area),
then reads every record with ranged GETs (runs of neighbouring records) and
checks SHA-256(bytes) == id. Prints "ref NAME ID" per ref (NAME decoded; bytes
that are not printable ASCII are shown %XX-encoded as in the head), then
"blobs N" (distinct ids over the live packs), "bytes M" (their total length)
and "packs P". Exit 0 only if every check passed; 1 with a message on stderr
otherwise; 2 for a usage error.
"""
import datetime
import hashlib
import hmac
import http.client
import os
import re
import struct
import sys
import urllib.parse

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
RUN_MAX = 1 << 20  # at most this many bytes of records per ranged GET


class Refused(Exception):
    """The store (or the service) failed a check; the message says which."""


# ---------------------------------------------------------------- XXH64
M64 = (1 << 64) - 1
P1 = 11400714785074694791
P2 = 14029467366897019727
P3 = 1609587929392839161
P4 = 9650029242287828579
P5 = 2870177450012600261


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _round(acc, lane):
    return (_rotl((acc + lane * P2) & M64, 31) * P1) & M64


def _merge(acc, v):
    acc ^= _round(0, v)
    return (acc * P1 + P4) & M64


def xxh64(data, seed=0):
    n = len(data)
    i = 0
    if n >= 32:
        v1 = (seed + P1 + P2) & M64
        v2 = (seed + P2) & M64
        v3 = seed & M64
        v4 = (seed - P1) & M64
        for a, b, c, d in struct.iter_unpack("<4Q", data[: n - n % 32]):
            v1 = _round(v1, a)
            v2 = _round(v2, b)
            v3 = _round(v3, c)
            v4 = _round(v4, d)
        i = n - n % 32
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & M64
        for v in (v1, v2, v3, v4):
            h = _merge(h, v)
    else:
        h = (seed + P5) & M64
    h = (h + n) & M64
    while i + 8 <= n:
        (k,) = struct.unpack_from("<Q", data, i)
        h ^= _round(0, k)
        h = (_rotl(h, 27) * P1 + P4) & M64
        i += 8
    if i + 4 <= n:
        (k,) = struct.unpack_from("<I", data, i)
        h ^= (k * P1) & M64
        h = (_rotl(h, 23) * P2 + P3) & M64
        i += 4
    while i < n:
        h ^= (data[i] * P5) & M64
        h = (_rotl(h, 11) * P1) & M64
        i += 1
    h ^= h >> 33
    h = (h * P2) & M64
    h ^= h >> 29
    h = (h * P3) & M64
    h ^= h >> 32
    return h


def _self_test():
    # XXH64's published values, and the 89-byte pack of "a" from docs/format.md.
    assert xxh64(b"") == 0xEF46DB3751D8E999
    assert xxh64(b"a") == 0xD24EC4F1A98C6E5B
    assert xxh64(b"abc") == 0x44BC2CF5AD770999
    idx = hashlib.sha256(b"a").digest() + struct.pack(">QQ", 0, 1)
    foot = b"CAIRNPAK" + struct.pack(">IIQQ", 1, 0, 1, 1)
    assert xxh64(foot, xxh64(idx, 0)) == 0x4588A29E1CFFCBAF, "XXH64 self-test"


# ---------------------------------------------------------------- S3 client
class S3:
    def __init__(self, bucket):
        self.bucket = bucket
        self.key_id = os.environ.get("AWS_ACCESS_KEY_ID", "")
        self.secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
        self.region = os.environ.get("AWS_REGION") or "us-east-1"
        endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
        if not (self.key_id and self.secret and endpoint):
            raise Refused("AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_ENDPOINT_URL must be set")
        u = urllib.parse.urlsplit(endpoint)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise Refused("AWS_ENDPOINT_URL %r is not an http(s) URL" % endpoint)
        self.https = u.scheme == "https"
        self.hostname = u.hostname
        self.port = u.port
        self.host = u.netloc.rsplit("@", 1)[-1]  # as sent in Host (port only if given)
        self.base = u.path.rstrip("/")
        self.conn = None
        self.requests = 0

    def _connect(self):
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        self.conn = cls(self.hostname, self.port, timeout=60)

    def _sign(self, method, path, now):
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        day = now.strftime("%Y%m%d")
        headers = {"host": self.host, "x-amz-content-sha256": EMPTY_SHA256, "x-amz-date": amz_date}
        signed = ";".join(sorted(headers))
        canonical = "\n".join(
            [method, path, ""]
            + ["%s:%s" % (k, headers[k]) for k in sorted(headers)]
            + ["", signed, EMPTY_SHA256]
        )
        scope = "%s/%s/s3/aws4_request" % (day, self.region)
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        k = ("AWS4" + self.secret).encode()
        for part in (day, self.region, "s3", "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        return {
            "Host": self.host,
            "x-amz-content-sha256": EMPTY_SHA256,
            "x-amz-date": amz_date,
            "Authorization": "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
            % (self.key_id, scope, signed, sig),
        }

    def get(self, key, range_header=None):
        """GET bucket/key; returns (status, headers dict lower-cased, body)."""
        # S3's canonical URI: each segment URI-encoded once (unreserved kept).
        path = self.base + "/" + urllib.parse.quote(self.bucket, safe="") + "/" + \
            "/".join(urllib.parse.quote(seg, safe="-_.~") for seg in key.split("/"))
        last = None
        for attempt in range(3):
            headers = self._sign("GET", path, datetime.datetime.now(datetime.timezone.utc))
            if range_header:
                headers["Range"] = range_header
            try:
                if self.conn is None:
                    self._connect()
                self.requests += 1
                self.conn.request("GET", path, headers=headers)
                resp = self.conn.getresponse()
                body = resp.read()
                hdrs = {k.lower(): v for k, v in resp.getheaders()}
                if resp.status >= 500 and attempt < 2:
                    last = "HTTP %d" % resp.status
                    continue
                return resp.status, hdrs, body
            except (OSError, http.client.HTTPException) as e:
                last = str(e) or type(e).__name__
                try:
                    self.conn.close()
                except Exception:
                    pass
                self.conn = None
        raise Refused("GET %s: %s" % (key, last))


def s3_error(status, body):
    m = re.search(rb"<Code>([^<]*)</Code>", body)
    return "HTTP %d%s" % (status, (" " + m.group(1).decode("ascii", "replace")) if m else "")


# ---------------------------------------------------------------- head
U64_MAX = (1 << 64) - 1
RE_U64 = re.compile(r"0|[1-9][0-9]*\Z")
RE_TIME = re.compile(r"-?(0|[1-9][0-9]*)\Z")
RE_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
RE_HEX64_ANY = re.compile(r"[0-9a-fA-F]{64}\Z")  # ref ids and INDEX: "64 hex digits"
RE_HEX32 = re.compile(r"[0-9a-f]{32}\Z")
RE_PACK = re.compile(r"[0-9a-z-]{1,48}\Z")
RE_WRITER = re.compile(r"-|[^ :]+:(0|[1-9][0-9]*)\Z")
ORDER = ["epoch", "seq", "nonce", "time", "writer", "ref", "pack", "retired"]
ONCE = {"epoch", "seq", "nonce", "time"}


def u64(s, what):
    if not RE_U64.match(s) or int(s) > U64_MAX:
        raise Refused("damaged head: %s %r is not a decimal u64" % (what, s))
    return int(s)


def decode_ref_name(enc):
    """Decode a head-encoded ref name; refuse a non-canonical encoding."""
    out = bytearray()
    i = 0
    while i < len(enc):
        ch = enc[i]
        if ch == "%":
            hx = enc[i + 1:i + 3]
            if not re.match(r"[0-9A-F]{2}\Z", hx):
                raise Refused("damaged head: ref name %r: bad escape at byte %d" % (enc, i))
            b = int(hx, 16)
            if 0x21 <= b <= 0x7E and b != 0x25:
                raise Refused("damaged head: ref name %r: %%%s need not be escaped" % (enc, hx))
            out.append(b)
            i += 3
        elif 0x21 <= ord(ch) <= 0x7E:
            out.append(ord(ch))
            i += 1
        else:
            raise Refused("damaged head: ref name %r holds an unescaped byte" % enc)
    if not 1 <= len(out) <= 216 or 0 in out:
        raise Refused("damaged head: ref name %r decodes to %d bytes%s"
                      % (enc, len(out), " with a NUL" if 0 in out else ""))
    return bytes(out)


def parse_head(raw):
    """Validate a head object; returns a dict. Raises Refused on any damage."""
    # The end line and its hash first: a torn or altered object is damaged.
    if not raw.endswith(b"\n"):
        raise Refused("damaged head: it does not end with a newline (torn?)")
    cut = raw.rfind(b"\n", 0, len(raw) - 1) + 1  # start of the last line
    last = raw[cut:-1]
    if not last.startswith(b"end "):
        if b"\nend " in raw or raw.startswith(b"end "):
            raise Refused("damaged head: text after its end line")
        raise Refused("damaged head: no end line (torn?)")
    want = last[4:].decode("ascii", "replace")
    if not RE_HEX64.match(want):
        raise Refused("damaged head: end line %r is not 64 lowercase hex digits" % want)
    got = hashlib.sha256(raw[:cut]).hexdigest()
    if got != want:
        raise Refused("damaged head: end hash %s does not match the SHA-256 %s of the bytes before it"
                      % (want, got))
    try:
        text = raw[:cut].decode("utf-8")
    except UnicodeDecodeError as e:
        raise Refused("damaged head: not UTF-8 (%s)" % e)
    lines = text.split("\n")
    assert lines[-1] == ""
    lines = lines[:-1]
    if not lines or lines[0] != "cairn-s3-head 1":
        first = lines[0] if lines else ""
        if first.startswith("cairn-s3-head ") and RE_U64.match(first[14:]):
            raise Refused("head is of layout version %s, this reader knows 1" % first[14:])
        raise Refused("damaged head: first line %r is not 'cairn-s3-head 1'" % first)
    head = {"refs": [], "packs": [], "retired": [], "writer": None}
    seen_pos = 0
    seen = set()
    names = set()
    for n, line in enumerate(lines[1:], start=2):
        parts = line.split(" ")
        kw = parts[0]
        if kw == "end":
            raise Refused("damaged head: line %d: a second end line" % n)
        if kw not in ORDER:
            raise Refused("damaged head: line %d: unknown keyword %r" % (n, kw))
        if any(p == "" for p in parts):
            raise Refused("damaged head: line %d: empty field (extra space?): %r" % (n, line))
        pos = ORDER.index(kw)
        if pos < seen_pos:
            raise Refused("damaged head: line %d: %r out of order" % (n, kw))
        if kw in ONCE or kw == "writer":
            if kw in seen:
                raise Refused("damaged head: line %d: a second %r line" % (n, kw))
        for need in ORDER[:pos]:
            if need in ONCE and need not in seen:
                raise Refused("damaged head: line %d: %r before any %r line" % (n, kw, need))
        seen_pos = pos
        seen.add(kw)
        f = parts[1:]
        nf = {"epoch": 1, "seq": 1, "nonce": 1, "time": 1, "writer": 1, "ref": 2,
              "pack": 4, "retired": 2}[kw]
        if len(f) != nf:
            raise Refused("damaged head: line %d: %r wants %d fields, has %d" % (n, kw, nf, len(f)))
        if kw in ("epoch", "seq"):
            head[kw] = u64(f[0], kw)
        elif kw == "nonce":
            if not RE_HEX32.match(f[0]):
                raise Refused("damaged head: nonce %r is not 32 lowercase hex digits" % f[0])
            head[kw] = f[0]
        elif kw == "time":
            if not RE_TIME.match(f[0]):
                raise Refused("damaged head: time %r is not decimal" % f[0])
            head[kw] = int(f[0])
        elif kw == "writer":
            if not RE_WRITER.match(f[0]):
                raise Refused("damaged head: writer %r is not HOST:PID or -" % f[0])
            head[kw] = f[0]
        elif kw == "ref":
            name = decode_ref_name(f[0])
            if not RE_HEX64_ANY.match(f[1]):
                raise Refused("damaged head: ref %s: value %r is not 64 hex digits" % (f[0], f[1]))
            if head["refs"] and head["refs"][-1][0] >= name:
                raise Refused("damaged head: ref %s: refs not sorted by name or repeated" % f[0])
            head["refs"].append((name, f[0], f[1].lower()))
        elif kw == "pack":
            name, count, size, index = f
            if not RE_PACK.match(name):
                raise Refused("damaged head: pack name %r is not 1..48 of 0-9 a-z -" % name)
            count = u64(count, "pack count")
            size = u64(size, "pack bytes")
            if not RE_HEX64_ANY.match(index):
                raise Refused("damaged head: pack %s: INDEX %r is not 64 hex digits" % (name, index))
            index = index.lower()
            if size < 40 + 48 * count:
                raise Refused("damaged head: pack %s: BYTES %d < 40 + 48 * COUNT %d" % (name, size, count))
            if name in names:
                raise Refused("damaged head: pack %s named twice" % name)
            names.add(name)
            head["packs"].append((name, count, size, index))
        elif kw == "retired":
            name, after = f
            if not RE_PACK.match(name):
                raise Refused("damaged head: retired pack name %r is not 1..48 of 0-9 a-z -" % name)
            after = RE_TIME.match(after) and int(after)
            if after is None or after is False:
                raise Refused("damaged head: retired %s: AFTER %r is not decimal" % (name, f[1]))
            if name in names:
                raise Refused("damaged head: pack %s named twice" % name)
            names.add(name)
            head["retired"].append((name, after))
    for need in ("epoch", "seq", "nonce", "time"):
        if need not in seen:
            raise Refused("damaged head: no %r line" % need)
    return head


# ---------------------------------------------------------------- packs
def check_index(pname, count, size, tail):
    """tail: the pack's last 48*count+40 bytes. Returns [(id, offset, length)]."""
    foot = tail[-40:]
    if foot[:8] != b"CAIRNPAK":
        raise Refused("pack %s: bad magic %r" % (pname, foot[:8]))
    version, reserved, fcount, index_offset, checksum = struct.unpack(">IIQQQ", foot[8:])
    if version != 1:
        raise Refused("pack %s: version %d, this reader knows 1" % (pname, version))
    if reserved != 0:
        raise Refused("pack %s: reserved bytes are %#x, not 0" % (pname, reserved))
    if fcount != count:
        raise Refused("pack %s: footer count %d, the head says %d" % (pname, fcount, count))
    if index_offset > size - 40 or fcount * 48 != size - 40 - index_offset:
        raise Refused("pack %s: index_offset %d and count %d do not fit size %d"
                      % (pname, index_offset, fcount, size))
    index = tail[:-40]
    want = xxh64(foot[:32], xxh64(index, 0))
    if checksum != want:
        raise Refused("pack %s: footer checksum %016x, computed %016x" % (pname, checksum, want))
    entries = []
    prev = None
    for i in range(count):
        bid, off, ln = struct.unpack_from(">32sQQ", index, 48 * i)
        if prev is not None and bid <= prev:
            raise Refused("pack %s: index entry %d: ids not strictly ascending" % (pname, i))
        prev = bid
        if off > index_offset or ln > index_offset - off:
            raise Refused("pack %s: blob %s lies outside the records [0, %d)"
                          % (pname, bid.hex(), index_offset))
        entries.append((bid, off, ln))
    at = 0
    for bid, off, ln in sorted(entries, key=lambda e: (e[1], e[2])):
        if off != at:
            raise Refused("pack %s: records %s at offset %d (expected %d)"
                          % (pname, "overlap" if off < at else "leave a gap", off, at))
        at = off + ln
    if at != index_offset:
        raise Refused("pack %s: records end at %d, index_offset is %d" % (pname, at, index_offset))
    return entries, index_offset


def content_range(hdrs):
    m = re.match(r"bytes (\d+)-(\d+)/(\d+)\Z", hdrs.get("content-range", "").strip())
    if not m:
        return None
    return tuple(int(x) for x in m.groups())


def read_pack(s3, key, pname, count, size, index_hex):
    s = 48 * count + 40
    status, hdrs, body = s3.get(key, "bytes=-%d" % s)
    if status == 200:  # a server that ignored the Range: the whole object
        total = len(body)
        tail = body[-s:] if len(body) >= s else body
    elif status == 206:
        cr = content_range(hdrs)
        if cr is None:
            raise Refused("pack %s: no usable Content-Range in the answer (%r)"
                          % (pname, hdrs.get("content-range")))
        first, lastb, total = cr
        if len(body) != lastb - first + 1:
            raise Refused("pack %s: got %d bytes for range %d-%d" % (pname, len(body), first, lastb))
        tail = body
        if total == size and (first != size - s or lastb != size - 1):
            raise Refused("pack %s: asked for the last %d bytes, got %d-%d" % (pname, s, first, lastb))
    else:
        raise Refused("pack %s: GET of its index: %s" % (pname, s3_error(status, body)))
    if total != size:
        raise Refused("pack %s: object is %d bytes, the head says %d" % (pname, total, size))
    if len(tail) != s:
        raise Refused("pack %s: got %d bytes of index and footer, want %d" % (pname, len(tail), s))
    got = hashlib.sha256(tail).hexdigest()
    if got != index_hex:
        raise Refused("pack %s: SHA-256 of its index and footer is %s, the head says %s"
                      % (pname, got, index_hex))
    return check_index(pname, count, size, tail)


def read_records(s3, key, pname, entries):
    """Ranged GETs over runs of neighbouring records; checks every blob's id."""
    todo = sorted((e for e in entries if e[2] > 0), key=lambda e: e[1])
    for bid, off, ln in entries:
        if ln == 0 and bid != hashlib.sha256(b"").digest():
            raise Refused("pack %s: empty record under id %s" % (pname, bid.hex()))
    i = 0
    while i < len(todo):
        j = i + 1
        start = todo[i][1]
        end = start + todo[i][2]
        while j < len(todo) and todo[j][1] == end and end + todo[j][2] - start <= RUN_MAX:
            end += todo[j][2]
            j += 1
        status, hdrs, body = s3.get(key, "bytes=%d-%d" % (start, end - 1))
        if status == 200:
            body = body[start:end]
        elif status == 206:
            cr = content_range(hdrs)
            if cr is None or cr[0] != start or cr[1] != end - 1:
                raise Refused("pack %s: asked for bytes %d-%d, got %r"
                              % (pname, start, end - 1, hdrs.get("content-range")))
        else:
            raise Refused("pack %s: GET of bytes %d-%d: %s" % (pname, start, end - 1, s3_error(status, body)))
        if len(body) != end - start:
            raise Refused("pack %s: got %d bytes for %d-%d" % (pname, len(body), start, end - 1))
        for bid, off, ln in todo[i:j]:
            got = hashlib.sha256(body[off - start:off - start + ln]).digest()
            if got != bid:
                raise Refused("pack %s: blob %s at %d+%d hashes to %s"
                              % (pname, bid.hex(), off, ln, got.hex()))
        i = j


def show_name(name):
    return "".join(chr(b) if 0x21 <= b <= 0x7E and b != 0x25 else "%%%02X" % b for b in name)


def main(argv):
    if len(argv) != 3:
        print("usage: s3_reader.py BUCKET PREFIX", file=sys.stderr)
        return 2
    bucket, prefix = argv[1], argv[2].strip("/")
    pre = prefix + "/" if prefix else ""
    _self_test()
    s3 = S3(bucket)
    status, _, body = s3.get(pre + "head")
    if status == 404:
        raise Refused("s3://%s/%shead: no such object (no store here?)" % (bucket, pre))
    if status != 200:
        raise Refused("GET s3://%s/%shead: %s" % (bucket, pre, s3_error(status, body)))
    head = parse_head(body)
    blobs = {}
    for pname, count, size, index_hex in head["packs"]:
        key = pre + "packs/" + pname + ".pack"
        entries, _ = read_pack(s3, key, pname, count, size, index_hex)
        read_records(s3, key, pname, entries)
        for bid, _, ln in entries:
            blobs[bid] = ln
    # "Packs before names": every ref's own blob is in a live pack.
    for name, _, val in head["refs"]:
        if bytes.fromhex(val) not in blobs:
            raise Refused("ref %s names %s, which no live pack holds" % (show_name(name), val))
    for name, _, val in head["refs"]:
        print("ref %s %s" % (show_name(name), val))
    print("blobs %d" % len(blobs))
    print("bytes %d" % sum(blobs.values()))
    print("packs %d" % len(head["packs"]))
    print("s3_reader: epoch %d seq %d, %d refs, %d packs (%d retired), %d requests"
          % (head["epoch"], head["seq"], len(head["refs"]), len(head["packs"]),
             len(head["retired"]), s3.requests), file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Refused as e:
        print("s3_reader: refused: %s" % e, file=sys.stderr)
        sys.exit(1)
