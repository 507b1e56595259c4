#!/usr/bin/env python3
"""Prints N ports for SeaweedFS servers on 127.0.0.1, then, with --keys, an
access key and a secret. Each port P has P and P + 10000 (SeaweedFS's gRPC
port) free, all are below 55535, and no two share a number. One call for all
of them: separate calls could hand out the same port twice."""
import random
import secrets
import socket
import sys


def free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


count = int(sys.argv[1])
taken, ports = set(), []
while len(ports) < count:
    p = random.randint(20000, 45000)
    if {p, p + 10000} & taken or not (free(p) and free(p + 10000)):
        continue
    taken |= {p, p + 10000, p - 10000}
    ports.append(p)
words = list(map(str, ports))
if "--keys" in sys.argv[2:]:
    words += [secrets.token_hex(10), secrets.token_hex(20)]
print(" ".join(words))
