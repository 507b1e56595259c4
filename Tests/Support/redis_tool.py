#!/usr/bin/env python3
"""Helpers for Coffer's Redis tests (Python standard library only).

    redis_tool.py populate PORT PASSWORD         every type in db 0 and db 3, a function library
    redis_tool.py digest PORT PASSWORD DB,DB...  one line per key: db, key, type, TTL or not,
                                                 DEBUG DIGEST-VALUE; then the function libraries
    redis_tool.py rewrite IN OUT VERSION|corrupt an RDB with another version number in its
                                                 header (CRC-64 recomputed), or with one byte
                                                 flipped in the value "hello" (CRC-64 left stale)
    redis_tool.py fake-master RDB PORTFILE [truncate]
                                                 a stand-in master for fault injection: answers
                                                 AUTH/REPLCONF/PING/INFO, and SYNC with RDB
                                                 (cut short and closed with `truncate`)
"""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_client import Client, LIBRARY, populate  # noqa: E402

POLY = 0x95AC9329AC4BC9B5  # CRC-64 Jones, reflected, as Redis computes it
TABLE = []
for n in range(256):
    crc = n
    for _ in range(8):
        crc = (crc >> 1) ^ POLY if crc & 1 else crc >> 1
    TABLE.append(crc)


def crc64(data):
    crc = 0
    for byte in data:
        crc = TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def rewrite(source, target, how):
    data = bytearray(open(source, "rb").read())
    if how == "corrupt":
        data[data.index(b"hello") + 4] ^= 0x01  # inside a plain string value: only the CRC-64 can tell
    else:
        data[5:9] = b"%04d" % int(how)
        body = bytes(data[:-8])
        data[-8:] = crc64(body).to_bytes(8, "little")
    open(target, "wb").write(bytes(data))


def digest(port, password, dbs):
    client = Client(port=int(port), password=password)
    for db in dbs.split(","):
        client.command("SELECT", db)
        for key in sorted(client.command("KEYS", "*")):
            kind = client.command("TYPE", key).decode()
            ttl = client.command("PTTL", key)
            value = client.command("DEBUG", "DIGEST-VALUE", key)[0].decode()
            print(db, key.hex(), kind, "ttl" if ttl >= 0 else "persistent", value)
    for library in client.command("FUNCTION", "LIST"):
        print("function", library[1].decode())


def fake_master(rdb, port_file, truncate):
    payload = open(rdb, "rb").read()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    with open(port_file + ".tmp", "w") as out:
        out.write(str(listener.getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    while True:
        conn, _ = listener.accept()
        reader = conn.makefile("rb")
        try:
            while True:
                line = reader.readline()
                if not line:
                    break
                args = [reader.read(int(reader.readline()[1:-2]) + 2)[:-2] for _ in range(int(line[1:-2]))] \
                    if line.startswith(b"*") else line.split()
                name = args[0].upper() if args else b""
                if name == b"SYNC":
                    body = payload[: len(payload) // 2] if truncate else payload
                    conn.sendall(b"\n$%d\r\n" % len(payload) + body)
                    break
                if name == b"INFO":
                    text = b"# Server\r\nredis_version:7.2.4\r\n"
                    conn.sendall(b"$%d\r\n%s\r\n" % (len(text), text))
                elif name == b"PING":
                    conn.sendall(b"+PONG\r\n")
                else:
                    conn.sendall(b"+OK\r\n")
        finally:
            conn.shutdown(socket.SHUT_RDWR)  # the reader's file object would keep it open
            reader.close()
            conn.close()


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "populate":
        client = Client(port=int(sys.argv[2]), password=sys.argv[3])
        populate(client, 0)
        populate(client, 3)
        client.command("FUNCTION", "LOAD", LIBRARY)
    elif command == "digest":
        digest(*sys.argv[2:5])
    elif command == "rewrite":
        rewrite(*sys.argv[2:5])
    elif command == "fake-master":
        fake_master(sys.argv[2], sys.argv[3], len(sys.argv) > 4 and sys.argv[4] == "truncate")
    else:
        sys.exit(__doc__)
