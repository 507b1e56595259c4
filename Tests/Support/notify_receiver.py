#!/usr/bin/env python3
"""A webhook receiver for Coffer's notification tests: records what it got.

    notify_receiver.py --port-file FILE --log FILE [--control FILE]

Listens on 127.0.0.1 (a free port, written to --port-file) and writes one JSON
line per request to --log, before answering:

    {"method": "POST", "path": "/hook", "query": "rid=...", "headers": {"content-type": ...}, "body": "..."}

(header names lowercased; the body as UTF-8 text, undecodable bytes replaced).
Its answer comes from the JSON --control file, read again for every request
(missing or empty: 200 "OK"):

    {"status": 500}     answer with this status
    {"hang": true}      never answer (the connection stays open until the client gives up)
"""
import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

args = None
log_lock = threading.Lock()


def control():
    try:
        with open(args.control) as f:
            text = f.read().strip()
        return json.loads(text) if text else {}
    except (OSError, ValueError, TypeError):
        return {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        record = {
            "method": self.command,
            "path": parts.path,
            "query": parts.query,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
        }
        with log_lock, open(args.log, "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
        rules = control()
        if rules.get("hang"):
            time.sleep(3600)
            return
        status = int(rules.get("status", 200))
        answer = b"OK"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_POST = do_GET = do_PUT = do_HEAD = handle_any

    def log_message(self, format, *a):
        pass


def main():
    global args
    parser = argparse.ArgumentParser()
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--control", default="/nonexistent")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
