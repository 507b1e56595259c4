#!/usr/bin/env python3
"""Fault-injection TCP proxy for Coffer's database tests (PostgreSQL, Redis).

Sits between a client and a real database server and, on request, produces
the faults a real server will not produce on cue: a command that reaches the
server but whose answer never comes back, a connection cut before a command
arrives, a server that is gone.

    tcp_fault_proxy.py --upstream HOST:PORT --control FILE --port-file FILE [--log FILE]

It listens on 127.0.0.1 (a free port, written to --port-file once listening)
and forwards each accepted connection to the upstream server, byte for byte in
both directions. Its behaviour comes from the JSON --control file, read again
for every chunk the client sends and for every new connection (missing or
empty: pass everything). Rules may be combined in one object:

    {"lose_answer": "TEXT"}  the next client chunk containing TEXT (say "COMMIT" in a
                             PostgreSQL Query, "EXEC" in a Redis command) is forwarded;
                             then the proxy waits for the server's first bytes after it
                             (at most 2 s) and cuts both connections without passing
                             them on: the change is made, the client never hears (one-shot)
    {"cut_before": "TEXT"}   the next client chunk containing TEXT is not forwarded; both
                             connections are cut at once (one-shot)
    {"down": true}           close every new connection at once, and cut an existing one
                             when its client sends a chunk
    {"down_after_connections": N}
                             let N more connections through, then behave as "down"
                             (so a test can let one step reach the server and not the next)

A one-shot rule is removed from the control file when it fires. TEXT is found
even when it straddles two chunks. --log gets one line per event: "open",
"close", "lose_answer TEXT", "cut_before TEXT", "down".
"""
import argparse
import os
import signal
import socket
import sys
import threading

from proxy_control import ControlFile

args = None
control_file = None  # ControlFile, set in main
TAIL = 255  # bytes of client data kept per connection, to find TEXT across chunks
ANSWER_WAIT = 2.0


def decide(tail, chunk):
    """What to do with a client chunk: ('pass',), ('down',), ('cut_before', T) or
    ('lose_answer', T). A one-shot rule that fires is removed under the lock, so
    it fires for one connection only."""
    with control_file.lock:
        control = control_file.read()
        if control.get("down"):
            return ("down",)
        for key in ("cut_before", "lose_answer"):
            if not control.get(key):
                continue
            text = str(control[key])
            pattern = text.encode()
            window = (tail[-(len(pattern) - 1):] if len(pattern) > 1 else b"") + chunk
            if pattern in window:
                del control[key]
                control_file.write(control)
                return (key, text)
        return ("pass",)


class Connection:
    def __init__(self, client, upstream):
        self.client = client
        self.upstream = upstream
        self.guard = threading.Lock()
        self.losing = False  # set once a lose_answer chunk is on its way up
        self.answered = threading.Event()

    def cut(self):
        for sock in (self.client, self.upstream):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def downstream(self):
        """Server to client, until either side closes or an answer is to be lost."""
        try:
            while True:
                chunk = self.upstream.recv(1 << 16)
                with self.guard:
                    if self.losing:
                        self.answered.set()
                        return
                if not chunk:
                    self.client.shutdown(socket.SHUT_WR)
                    return
                self.client.sendall(chunk)
        except OSError:
            self.answered.set()

    def upstream_loop(self):
        """Client to server, applying the control file's rules to every chunk.
        True when the client finished sending, False when the proxy cuts."""
        tail = b""
        while True:
            chunk = self.client.recv(1 << 16)
            if not chunk:
                self.upstream.shutdown(socket.SHUT_WR)
                return True
            action = decide(tail, chunk)
            if action[0] == "down":
                control_file.log("down")
                return False
            if action[0] == "cut_before":
                control_file.log("cut_before " + action[1])
                return False
            if action[0] == "lose_answer":
                with self.guard:
                    self.losing = True
                self.upstream.sendall(chunk)
                self.answered.wait(ANSWER_WAIT)
                control_file.log("lose_answer " + action[1])
                return False
            self.upstream.sendall(chunk)
            tail = (tail + chunk)[-TAIL:]


def serve(client):
    with control_file.lock:
        control = control_file.read()
        down = control.get("down")
        remaining = control.get("down_after_connections")
        if not down and remaining is not None:
            if remaining <= 0:
                down = True
                control = {k: v for k, v in control.items() if k != "down_after_connections"}
                control["down"] = True
            else:
                control["down_after_connections"] = remaining - 1
            control_file.write(control)
    if down:
        control_file.log("down")
        client.close()
        return
    try:
        upstream = socket.create_connection(args.upstream_address)
    except OSError:
        client.close()
        return
    control_file.log("open")
    connection = Connection(client, upstream)
    reader = threading.Thread(target=connection.downstream, daemon=True)
    reader.start()
    try:
        if connection.upstream_loop():
            reader.join()  # the client finished sending: let the server's last answers through
    except OSError:
        pass
    finally:
        control_file.log("close")
        connection.cut()


def stop(signum, frame):
    sys.exit(0)


def main():
    global args
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the real server")
    parser.add_argument("--control", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log")
    args = parser.parse_args()
    global control_file
    control_file = ControlFile(args.control, args.log)
    # A parent's worker thread may have spawned us with these blocked; stopping must work.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, _, port = args.upstream.rpartition(":")
    args.upstream_address = (host, int(port))

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(listener.getsockname()[1]))
    os.replace(tmp, args.port_file)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client,), daemon=True).start()


if __name__ == "__main__":
    main()
