"""A minimal Redis client (RESP over a socket) and the test data set that
Coffer's Redis tests write: every type and encoding, TTLs, streams with
consumer groups, a function library. Python standard library only."""
import socket


class Client:
    def __init__(self, port=None, password=None, unix=None, user=None, host="127.0.0.1"):
        if unix:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.connect(unix)
        else:
            self.sock = socket.create_connection((host, port))
        self.reader = self.sock.makefile("rb")
        if password is not None:
            self.command(*(["AUTH"] + ([user] if user else []) + [password]))

    def command(self, *args):
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        return self.reply()

    def reply(self):
        line = self.reader.readline()
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
            return self.reader.read(n + 2)[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError("unexpected reply %r" % line)


def populate(client, db, scale=1):
    """Keys of every type and encoding in `db`; `scale` multiplies the large ones."""
    command = client.command
    command("SELECT", db)
    p = "d%d:" % db
    command("SET", p + "str", "hello")
    command("SET", p + "int", 12345)
    command("SET", p + "long", "x" * 5000)  # LZF-compressed in the RDB
    command("SET", p + "ttl", "soon", "PX", 3600000)
    command("RPUSH", p + "list-small", "a", "b", "c", 1, 2)
    command("RPUSH", p + "list-large", *["item-%d-%s" % (i, "y" * 50) for i in range(600 * scale)])
    command("SADD", p + "set-int", 1, 2, 3, 4)
    command("SADD", p + "set-str", "a", "b", "c")
    command("SADD", p + "set-large", *["m%d" % i for i in range(700 * scale)])
    command("ZADD", p + "zset-small", 1, "a", 2.5, "b", "-inf", "c")
    zargs = []
    for i in range(300 * scale):
        zargs += [i * 1.5, "member-%d" % i]
    command("ZADD", p + "zset-large", *zargs)
    command("HSET", p + "hash-small", "f1", "v1", "f2", 2)
    hargs = []
    for i in range(600 * scale):
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


LIBRARY = "#!lua name=cofferlib\nredis.register_function('coffer_one', function(keys, args) return 1 end)"
