"""A tiny TCP relay for attack tests: gives an attacker a second loopback address.

gRPC clients cannot choose their source address. A Relay accepts on 127.0.0.1 (any free port)
and connects onwards to its target with the outgoing socket bound to `source` (e.g.
127.0.0.2), so the server sees every connection made through the relay as coming from that
address while honest clients connect directly from 127.0.0.1. `enabled` can be switched off:
the relay then accepts and at once closes each new connection (a backend that is down).

Standard library only; every thread is a daemon, connections are bounded in number.
"""
import socket
import threading


class Relay:
    def __init__(self, target_host, target_port, source="127.0.0.2", max_connections=512):
        self.target = (target_host, int(target_port))
        self.source = source
        self.enabled = True
        self.max_connections = max_connections
        self.accepted = 0
        self.sources_seen = set()  # local addresses the outgoing sockets really had
        self._lock = threading.Lock()
        self._sockets = []
        self._closed = False
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while not self._closed:
            try:
                inbound, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                refuse = not self.enabled or len(self._sockets) >= 2 * self.max_connections
            if refuse:
                inbound.close()
                continue
            try:
                outbound = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                outbound.bind((self.source, 0))
                outbound.settimeout(10)
                outbound.connect(self.target)
                outbound.settimeout(None)
            except OSError:
                inbound.close()
                continue
            with self._lock:
                self.sources_seen.add(outbound.getsockname()[0])
                self._sockets += [inbound, outbound]
            for a, b in ((inbound, outbound), (outbound, inbound)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop_connections(self):
        """Closes every relayed connection (the listener stays)."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self._closed = True
        try:
            self._listener.close()
        except OSError:
            pass
        self.drop_connections()
