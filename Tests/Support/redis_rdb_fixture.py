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
import subprocess
import sys
import time

folder = sys.argv[1]
sock_path = os.path.join(folder, "redis.sock")
server = subprocess.Popen(
    ["redis-server", "--port", "0", "--unixsocket", sock_path, "--dir", folder, "--dbfilename", "dump.rdb",
     "--save", "", "--appendonly", "no", "--daemonize", "no"],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_client import Client, LIBRARY, populate  # noqa: E402

client = None
for _ in range(200):
    try:
        client = Client(unix=sock_path)
        break
    except OSError:
        time.sleep(0.05)
command = client.command


try:
    populate(client, 0)
    populate(client, 3)
    command("FUNCTION", "LOAD", LIBRARY)
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
