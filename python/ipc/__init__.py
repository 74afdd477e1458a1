"""libipc for Python: one API over pipes, FIFOs, fd:, tcp, unix and shared memory.

    import ipc
    with ipc.open("unix:/run/demo.sock") as ch:
        ch.send(b"hello")
        print(ch.recv(timeout=1.0))

The work is done by the C extension ipc._ipc over the installed libipc.so;
see doc/python.md and `man 7 libipc` for the semantics.
"""
from ipc._ipc import (
    ANY_UID, CREATE, INHERIT, POLLERR, POLLHUP, POLLIN, POLLOUT, RAW, RECV, SEND,
    TLS_1_2, TLS_REQUIRE_CLIENT_CERT,
    Channel, Listener, RecvLoan, SendLoan, SigInfo, SigWatch, __version__,
    listen, notify, open, pair, pipe, poll, strerror, version,
)

__all__ = [
    "ANY_UID", "CREATE", "INHERIT", "POLLERR", "POLLHUP", "POLLIN", "POLLOUT", "RAW", "RECV", "SEND",
    "TLS_1_2", "TLS_REQUIRE_CLIENT_CERT",
    "Channel", "Listener", "RecvLoan", "SendLoan", "SigInfo", "SigWatch",
    "listen", "notify", "open", "pair", "pipe", "poll", "strerror", "version",
]
