"""Local ports for tests: servers they start and ports that nothing listens on."""

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (and that nothing listens on until it is used)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
