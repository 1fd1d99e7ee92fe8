#!/usr/bin/env bash
# Installs the Debian 12 packages cairn needs to build and test, skipping
# those already present (so a second run costs a second, not a minute).
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  liblmdb-dev lmdb-utils      # the LMDB tier and the raw-LMDB peer
  libmsgpack-dev              # node and commit encoding (msgpack-c)
  libssl-dev                  # SHA-256 and HMAC (libcrypto)
  libxxhash-dev               # the 64-bit hash of the chunking rule
  liburing-dev                # the file tier's batched I/O (io_uring)
  libcurl4-openssl-dev        # the S3 tier's HTTP client (libcurl, multi interface)
  libhiredis-dev              # the Redis tier's client (0.14 on Debian 12: no TLS, so no rediss://)
  librocksdb-dev              # cairn-bench: the RocksDB peer (C API)
  libsqlite3-dev              # cairn-bench: the SQLite peer
  gnuplot-nox                 # cairn-bench: the plots (SVG, PNG)
  python3                     # tests: JSON checks and byte-level store surgery
  clang                       # tests: clang's UBSan (checks gcc's lacks), TSan, libFuzzer
  libclang-rt-14-dev          # tests: clang 14's libFuzzer and sanitizer runtimes
  ceph-mon ceph-osd radosgw   # tests: a real S3 service, Ceph's RADOS Gateway on one
  ceph-common uuid-runtime    #   node (scripts/s3-server.sh, which installs them too)
  curl                        # tests: signed S3 requests from the shell (--aws-sigv4)
  redis-tools python3-redis   # tests: real clients of cairn serve (redis-cli, redis-benchmark, redis-py);
                              #   redis-check-rdb is also the server the Redis tier's tests run
                              #   (scripts/redis-server.sh links it as redis-server: no daemon package)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
