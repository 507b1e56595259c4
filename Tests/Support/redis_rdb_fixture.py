#!/usr/bin/env python3
"""Makes an RDB file with the local redis-server for Coffer's RDB reader tests.

    redis_rdb_fixture.py DIR

Starts redis-server on a unix socket in DIR (no TCP port), writes keys of every
type and encoding into db 0 and db 3 (small and large lists, sets, sorted sets
and hashes, integers, long strings, a stream with consumer groups, keys with
TTLs) and a function library, saves DIR/dump.rdb, and writes DIR/dumps.txt:
one line per key, `DB KEY-HEX TYPE DUMP-HEX`, the server's own DUMP payloads.
"""
import os
import socket
import subprocess
import sys
import time

folder = sys.argv[1]
sock_path = os.path.join(folder, "redis.sock")
server = subprocess.Popen(
    ["redis-server", "--port", "0", "--unixsocket", sock_path, "--dir", folder, "--dbfilename", "dump.rdb",
     "--save", "", "--appendonly", "no", "--daemonize", "no"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(200):
    if os.path.exists(sock_path):
        break
    time.sleep(0.05)
conn = socket.socket(socket.AF_UNIX)
for _ in range(100):
    try:
        conn.connect(sock_path)
        break
    except OSError:
        time.sleep(0.05)
reader = conn.makefile("rb")


def command(*args):
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    conn.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
    return reply()


def reply():
    line = reader.readline()
    if not line:
        raise ConnectionError("the server closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = reader.read(n + 2)
        return data[:-2]
    if kind == b"*":
        return [reply() for _ in range(int(rest))]
    raise RuntimeError("unexpected reply %r" % line)


def populate(db):
    command("SELECT", db)
    p = "d%d:" % db
    command("SET", p + "str", "hello")
    command("SET", p + "int", 12345)
    command("SET", p + "long", "x" * 5000)  # LZF-compressed in the RDB
    command("SET", p + "ttl", "soon", "PX", 3600000)
    command("RPUSH", p + "list-small", "a", "b", "c", 1, 2)
    command("RPUSH", p + "list-large", *["item-%d-%s" % (i, "y" * 50) for i in range(600)])
    command("SADD", p + "set-int", 1, 2, 3, 4)
    command("SADD", p + "set-str", "a", "b", "c")
    command("SADD", p + "set-large", *["m%d" % i for i in range(700)])
    command("ZADD", p + "zset-small", 1, "a", 2.5, "b", "-inf", "c")
    zargs = []
    for i in range(300):
        zargs += [i * 1.5, "member-%d" % i]
    command("ZADD", p + "zset-large", *zargs)
    command("HSET", p + "hash-small", "f1", "v1", "f2", 2)
    hargs = []
    for i in range(600):
        hargs += ["field-%d" % i, "value-%d" % i]
    command("HSET", p + "hash-large", *hargs)
    command("HSET", p + "hash-ttl", "f", "v")
    command("EXPIRE", p + "hash-ttl", 7200)
    for i in range(5):
        command("XADD", p + "stream", "*", "n", i, "s", "v%d" % i)
    command("XGROUP", "CREATE", p + "stream", "g1", "0")
    command("XGROUP", "CREATE", p + "stream", "g2", "$")
    command("XREADGROUP", "GROUP", "g1", "alice", "COUNT", 2, "STREAMS", p + "stream", ">")
    command("XREADGROUP", "GROUP", "g1", "bob", "COUNT", 1, "STREAMS", p + "stream", ">")


try:
    populate(0)
    populate(3)
    command("FUNCTION", "LOAD", "#!lua name=cofferlib\nredis.register_function('coffer_one', function(keys, args) return 1 end)")
    command("SAVE")
    with open(os.path.join(folder, "dumps.txt"), "w") as out:
        for db in (0, 3):
            command("SELECT", db)
            for key in sorted(command("KEYS", "*")):
                kind = command("TYPE", key).decode()
                out.write("%d %s %s %s\n" % (db, key.hex(), kind, command("DUMP", key).hex()))
    command("SHUTDOWN", "NOSAVE")
except ConnectionError:
    pass
finally:
    server.wait(timeout=10)
