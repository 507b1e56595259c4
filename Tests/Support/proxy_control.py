"""The JSON control file and the event log that Coffer's fault proxies share
(fault_proxy.py for HTTP, tcp_fault_proxy.py for database protocols)."""
import json
import os
import threading


class ControlFile:
    """Rules read again for every request or chunk, rewritten atomically when a
    one-shot rule fires; `lock` serialises deciding, rewriting and logging."""

    def __init__(self, path, log_path=None):
        self.path = path
        self.log_path = log_path
        self.lock = threading.Lock()

    def read(self):
        """The rules; missing or empty: none."""
        try:
            with open(self.path) as f:
                text = f.read().strip()
            return json.loads(text) if text else {}
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def write(self, control):
        tmp = self.path + ".proxy-tmp"
        with open(tmp, "w") as f:
            json.dump(control, f)
        os.replace(tmp, self.path)

    def log(self, line):
        """One event a line (taken under the lock: call it without holding it)."""
        if self.log_path:
            with self.lock, open(self.log_path, "a") as f:
                f.write(line + "\n")
