#!/usr/bin/env python3
"""Fault-injection HTTP/1.1 proxy for Coffer's S3 tests.

Sits between a client and the real S3 server (SeaweedFS) and, on request,
produces the faults a real server will not produce on cue: 500 answers, a
connection dropped in the middle of an upload, a server that is gone.

    fault_proxy.py --upstream 127.0.0.1:PORT --control FILE --port-file FILE [--log FILE]

It listens on 127.0.0.1 (a free port, written to --port-file) and forwards each
request to the upstream server. Its behaviour comes from the JSON --control
file, read again for every request (missing or empty: pass everything):

    {"fail": N}                  answer the next N requests with 500 InternalError
    {"drop_after_bytes": B}      the next request with a body over B bytes: send B
                                 bytes upstream, then cut both connections (one-shot)
    {"down": true}               close every new connection at once
    {"down_after_requests": N}   forward N more requests, then behave as "down"
    {"lose_response": "TEXT"}    the next request whose path contains TEXT reaches the
                                 server, but its answer is lost: the connection is cut (one-shot)
    {"hold_after_bytes": B, "hold_on": "TEXT"}
                                 the next request with a body over B bytes (and, with
                                 hold_on, a path containing TEXT): send B bytes upstream,
                                 then stop and write {"held": "METHOD PATH"} in place of
                                 the rule; the rest of the body follows once "held" is
                                 gone from the file (one-shot). A test makes its fault
                                 happen at a known point of an upload this way; if the
                                 server goes away meanwhile, the log says "upstream gone
                                 after the hold" and the client's connection is cut.

Counters are written back to the control file as they run down. --log gets
one line per request: METHOD PATH -> STATUS or ACTION up=REQUEST-BODY-BYTES
down=RESPONSE-BODY-BYTES (so tests can count what crossed the wire).
"""
import argparse
import os
import signal
import socket
import threading
import time

from proxy_control import ControlFile

args = None
control_file = None  # ControlFile, set in main


def decide():
    """What to do with the next request: 'pass', 'fail', 'drop:B' or 'down'."""
    with control_file.lock:
        control = control_file.read()
        if control.get("down"):
            return "down"
        if "down_after_requests" in control:
            left = int(control["down_after_requests"])
            if left <= 0:
                return "down"
            control["down_after_requests"] = left - 1
            control_file.write(control)
        if int(control.get("fail", 0)) > 0:
            control["fail"] = int(control["fail"]) - 1
            control_file.write(control)
            return "fail"
        if "drop_after_bytes" in control:
            return "drop:%d" % int(control["drop_after_bytes"])
        if "lose_response" in control:
            return "lose:" + str(control["lose_response"])
        if "hold_after_bytes" in control:
            return "hold:%d:%s" % (int(control["hold_after_bytes"]), control.get("hold_on", ""))
        return "pass"


def claim_hold():
    """Takes the hold rule for this request; False if another request took it first."""
    with control_file.lock:
        control = control_file.read()
        if "hold_after_bytes" not in control:
            return False
        for key in ("hold_after_bytes", "hold_on"):
            control.pop(key, None)
        control_file.write(control)
        return True


def hold(method, path):
    """Says the request is held and waits until the test releases it (removes "held")."""
    with control_file.lock:
        control = control_file.read()
        control["held"] = "%s %s" % (method, path)
        control_file.write(control)
    while "held" in control_file.read():
        time.sleep(0.02)


def consume(key):
    with control_file.lock:
        control = control_file.read()
        control.pop(key, None)
        control_file.write(control)


class Reader:
    """Buffered reads from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise EOFError
        self.buffer += chunk

    def head(self):
        while b"\r\n\r\n" not in self.buffer:
            self.fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        return head + b"\r\n\r\n"

    def exactly(self, count):
        while len(self.buffer) < count:
            self.fill()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data


def content_length(head):
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def request_line(head):
    parts = head.split(b"\r\n", 1)[0].split(b" ")
    return (parts[0].decode(), parts[1].decode()) if len(parts) >= 2 else ("?", "?")


def read_response(reader, method):
    """One response from upstream: head and body (Content-Length or chunked)."""
    head = reader.head()
    status = int(head.split(b" ", 2)[1])
    lowered = head.lower()
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return head, b"", status
    if b"transfer-encoding: chunked" in lowered:
        body = b""
        while True:
            while b"\r\n" not in reader.buffer:
                reader.fill()
            line, reader.buffer = reader.buffer.split(b"\r\n", 1)
            size = int(line.split(b";")[0], 16)
            chunk = reader.exactly(size + 2)
            body += line + b"\r\n" + chunk
            if size == 0:
                # Trailers are not used by S3; the final CRLF was read with the chunk.
                break
        return head, body, status
    return head, reader.exactly(content_length(head)), status


def serve(client):
    upstream = None
    held = None  # (method, path) of a request held and not yet answered
    try:
        reader = Reader(client)
        upstream_reader = None
        while True:
            try:
                head = reader.head()
            except EOFError:
                return
            method, path = request_line(head)
            length = content_length(head)
            action = decide()
            if action == "down":
                control_file.log("%s %s -> down" % (method, path))
                return
            if action == "fail":
                reader.exactly(length)
                body = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>injected</Message></Error>"
                client.sendall(
                    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n\r\n" % len(body) + body
                )
                control_file.log("%s %s -> 500" % (method, path))
                continue
            if upstream is None:
                upstream = socket.create_connection(args.upstream_address)
                upstream_reader = Reader(upstream)
            if action.startswith("drop:") and length > int(action[5:]):
                cut = int(action[5:])
                consume("drop_after_bytes")
                upstream.sendall(head + reader.exactly(cut))
                control_file.log("%s %s -> dropped after %d bytes" % (method, path, cut))
                return
            if action.startswith("hold:"):
                cut, _, text = action[5:].partition(":")
                cut = int(cut)
                if length > cut and text in path and claim_hold():
                    upstream.sendall(head + reader.exactly(cut))
                    control_file.log("%s %s -> held after %d bytes" % (method, path, cut))
                    hold(method, path)
                    held = (method, path)
                    upstream.sendall(reader.exactly(length - cut))
            if held is None:
                upstream.sendall(head + reader.exactly(length))
            response_head, response_body, status = read_response(upstream_reader, method)
            if action.startswith("lose:") and action[5:] in path:
                consume("lose_response")
                control_file.log("%s %s -> %d lost on the way back" % (method, path, status))
                return
            client.sendall(response_head + response_body)
            control_file.log("%s %s -> %d up=%d down=%d" % (method, path, status, length, len(response_body)))
            held = None
    except (OSError, EOFError, ValueError):
        if held is not None:
            # The server went away while the request was held (a restarted gateway).
            control_file.log("%s %s -> upstream gone after the hold" % held)
        return
    finally:
        for sock in (client, upstream):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()


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
