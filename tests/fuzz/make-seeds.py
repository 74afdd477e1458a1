#!/usr/bin/env python3
"""Write the seed corpus of every fuzz target into tests/fuzz/corpus/<target>/.

The seeds are committed; this script says what each one is. Run it again
after changing an input format (a fuzz-*.c header comment describes each),
then check that `meson test --suite fuzz` still passes."""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = {}


def seed(target, name, data):
    SEEDS.setdefault(target, []).append((name, bytes(data)))


def be32(v):
    return struct.pack('>I', v)


def be16(v):
    return struct.pack('>H', v)


def be24(v):
    return struct.pack('>I', v)[1:]


# ------------------------------------------------------------ stream
# header: mode, be32 max_msg; then ops (fuzz-stream.c).
SOCK, PIPE, IPCPIPE, FILE = 0, 1, 2, 3
RAW, EVLOOP = 4, 8


def s_head(mode, max_msg=0):
    return bytes([mode]) + be32(max_msg)


def lit(b):
    out = b''
    while b:
        c, b = b[:64], b[64:]
        out += bytes([len(c) - 1]) + c
    return out


def lit16(b):
    return b'\x40' + be16(len(b)) + b


def hello(m=16 << 20):
    return b'\x41' + be32(m)


def frame(n, s=0):
    return b'\x42' + be24(n) + bytes([s])


def fill(n, b):
    return b'\x43' + be24(n) + bytes([b])


def rx(method, cap=0):
    """method 0-3 recv with caps[cap], 4 recv_size, 5 recv_alloc,
    6 recv with exactly the next size, 7 one byte less."""
    return bytes([0x80 | cap << 3 | method])


HELLO_BYTES = bytes.fromhex('8949504301000000 01000000')
WORKED = bytes.fromhex('89495043010000000100000000000002686900000000')

for t, name in ((SOCK, 'socket'), (PIPE, 'pipe'), (IPCPIPE, 'ipc-pipe'), (FILE, 'file')):
    seed('stream', 'worked-example-' + name, s_head(t) + lit(WORKED))
seed('stream', 'worked-example-evloop', s_head(PIPE | EVLOOP | 0x50) + lit(WORKED))
seed('stream', 'split-every-byte',
     s_head(SOCK) + b''.join(lit(bytes([c])) + rx(0, 5) for c in WORKED))
seed('stream', 'split-small-caps',
     s_head(PIPE | 0x30) + lit(WORKED[:5]) + rx(4) + lit(WORKED[5:15]) + rx(0, 1) +
     rx(6) + lit(WORKED[15:]) + rx(7) + rx(6) + rx(5))
seed('stream', 'zero-length-messages',
     s_head(SOCK) + hello() + frame(0) * 20 + rx(0, 0) + rx(5) + rx(4))
seed('stream', 'two-writers-fifo-style',
     s_head(PIPE) + hello() + frame(3, 1) + hello(100) + frame(4000, 2) + rx(5) +
     frame(1, 3))
seed('stream', 'rbuf-edges',
     s_head(PIPE | 0x10) + hello() + frame(65536 - 4, 7) + frame(65536, 8) +
     frame(65536 - 16, 9) + frame(65537, 10) + rx(6) + rx(0, 6))
seed('stream', 'large-blocking',
     s_head(SOCK | 0x50) + hello() + frame(300000, 3) + frame(5) + frame(200000, 4))
seed('stream', 'large-evloop',
     s_head(PIPE | EVLOOP | 0x40) + hello() + frame(900000, 5) + rx(5) + frame(17))
seed('stream', 'large-ipc-pipe-exact',
     s_head(IPCPIPE | EVLOOP | 0x60) + hello() + frame(700000, 6) + rx(4) + rx(6))
seed('stream', 'large-file', s_head(FILE | 0x50) + hello() + frame(150000, 1) + frame(2))
seed('stream', 'max-msg-exact', s_head(SOCK, 10) + hello() + frame(10, 1) + frame(0))
seed('stream', 'max-msg-exceeded', s_head(PIPE, 10) + hello() + frame(10, 1) + frame(11, 2))
seed('stream', 'max-msg-4g-claim', s_head(SOCK) + hello() + lit(b'\x7f\xff\xff\xff'))
seed('stream', 'top-bit-length', s_head(SOCK) + hello() + lit(b'\xff\xff\xff\xff'))
seed('stream', 'option-max-msg-too-big', s_head(SOCK, 0x80000000) + lit(WORKED))
seed('stream', 'bad-first-byte', s_head(SOCK) + lit(b'\x90'))
seed('stream', 'bad-first-byte-alone', s_head(PIPE) + lit(b'\xff') + rx(0, 4))
seed('stream', 'text-no-hello', s_head(PIPE) + lit(b'hi\n'))
seed('stream', 'http-request', s_head(SOCK) + lit(b'GET / HTTP/1.0\r\n\r\n'))
seed('stream', 'frame-before-hello', s_head(SOCK) + lit(b'\x00\x00\x00\x01A'))
seed('stream', 'hello-bad-version', s_head(SOCK) + lit(HELLO_BYTES[:4] + b'\x02' + HELLO_BYTES[5:]))
seed('stream', 'hello-bad-flags', s_head(PIPE) + lit(HELLO_BYTES[:5] + b'\x01' + HELLO_BYTES[6:]))
seed('stream', 'hello-bad-reserved', s_head(SOCK) + lit(HELLO_BYTES[:7] + b'\x01' + HELLO_BYTES[8:]))
seed('stream', 'hello-max-above-limit', s_head(SOCK) + hello(0x80000000) + frame(1))
seed('stream', 'hello-max-limit', s_head(SOCK) + hello(0x7fffffff) + frame(1))
seed('stream', 'hello-cut-off', s_head(PIPE) + lit(HELLO_BYTES[:7]))
seed('stream', 'hello-bad-magic-cut-off', s_head(SOCK) + lit(b'\x89IX'))
seed('stream', 'header-cut-off', s_head(SOCK) + hello() + lit(b'\x00\x00'))
seed('stream', 'body-cut-off', s_head(SOCK | 0x20) + hello() + lit(b'\x00\x00\x00\x64') +
     fill(50, 0x41) + rx(0, 3) + rx(4))
seed('stream', 'large-body-cut-off', s_head(PIPE) + hello() + lit(b'\x00\x10\x00\x00') +
     fill(300000, 0x42) + rx(0, 7))
seed('stream', 'garbage-after-messages', s_head(SOCK) + lit(WORKED) + lit(b'\xc0\x00'))
seed('stream', 'raw-text', s_head(SOCK | RAW) + lit(b'hello, raw world\n') + rx(0, 2) +
     rx(0, 0) + rx(4))
seed('stream', 'raw-framed-bytes', s_head(PIPE | RAW | 0x30) + lit(WORKED) + fill(100000, 0))
seed('stream', 'raw-file', s_head(FILE | RAW) + lit(b'abc') + rx(5))
seed('stream', 'empty', s_head(SOCK))
seed('stream', 'empty-file', s_head(FILE))
seed('stream', 'hello-only', s_head(PIPE) + hello() + rx(4) + rx(5))


# ------------------------------------------------------------ open
# u8 call, u8 flags, u8 flags2, be32 max_msg, be32 capacity, be16 mode,
# u8 timeout, URI (fuzz-open.c).
SEND, RECV, CREATE, RAWF, ANY = 1, 2, 4, 8, 16
OPEN, LISTEN, OPEN2, LISTEN2 = 0, 1, 2, 3
SZ_LESS, SZ_MORE, SZ_MORE_BAD, OPT_NULL = 4, 8, 12, 16


def o(call, flags, uri, flags2=0, max_msg=0, cap=0, mode=0, timeout=5):
    return (bytes([call, flags, flags2]) + be32(max_msg) + be32(cap) + be16(mode) +
            bytes([timeout & 0xff]) + uri)


seed('open', 'fifo-create-then-writer', o(OPEN2, RECV | CREATE, b'fifo:/demo.fifo', SEND))
seed('open', 'fifo-writer-no-reader', o(OPEN, SEND, b'fifo:/none.fifo'))
seed('open', 'fifo-both-directions', o(OPEN, SEND | RECV | CREATE, b'fifo:/x.fifo'))
seed('open', 'fifo-relative', o(OPEN, RECV | CREATE, b'fifo:rel.fifo'))
seed('open', 'fifo-mode-0640', o(OPEN2, RECV | CREATE, b'fifo:/m.fifo', SEND, mode=0o640))
seed('open', 'fifo-mode-too-big', o(OPEN, RECV | CREATE, b'fifo:/m.fifo', mode=0o10000))
seed('open', 'fifo-dir', o(OPEN, RECV | CREATE, b'fifo:/'))
seed('open', 'unix-listen-path', o(LISTEN, 0, b'unix:demo.sock'))
seed('open', 'unix-listen-twice-connect', o(LISTEN2, 0, b'unix:/twice.sock', SEND | RECV))
seed('open', 'unix-listen-abstract', o(LISTEN2, ANY, b'unix:@demo', SEND | RECV | ANY))
seed('open', 'unix-listen-raw', o(LISTEN2, RAWF, b'unix:raw.sock', SEND | RECV | RAWF))
seed('open', 'unix-connect-nobody', o(OPEN, SEND | RECV, b'unix:nobody.sock'))
seed('open', 'unix-empty', o(OPEN, SEND | RECV, b'unix:'))
seed('open', 'unix-at-only', o(LISTEN, 0, b'unix:@'))
seed('open', 'unix-too-long', o(LISTEN, 0, b'unix:' + b'a' * 120))
seed('open', 'unix-abstract-too-long', o(LISTEN, 0, b'unix:@' + b'b' * 120))
seed('open', 'unix-listen-null-opt', o(LISTEN | OPT_NULL, 0, b'unix:null.sock'))
seed('open', 'tcp-listen-v4', o(LISTEN, 0, b'tcp://127.0.0.1:0'))
seed('open', 'tcp-listen-v6', o(LISTEN2, 0, b'tcp://[::1]:0', SEND | RECV))
seed('open', 'tcp-listen-localhost', o(LISTEN, 0, b'tcp://localhost:5555'))
seed('open', 'tcp-connect-refused', o(OPEN, SEND | RECV, b'tcp://127.0.0.1:5555'))
seed('open', 'tcp-connect-localhost', o(OPEN, SEND | RECV, b'tcp://localhost:80'))
seed('open', 'tcp-port-zero-connect', o(OPEN, SEND | RECV, b'tcp://[::1]:0'))
seed('open', 'tcp-port-too-big', o(OPEN, SEND | RECV, b'tcp://127.0.0.1:65536'))
seed('open', 'tcp-port-garbage', o(LISTEN, 0, b'tcp://127.0.0.1:12a'))
seed('open', 'tcp-no-slashes', o(OPEN, SEND | RECV, b'tcp:127.0.0.1:1'))
seed('open', 'tcp-v6-unbracketed', o(LISTEN, 0, b'tcp://::1:0'))
seed('open', 'tcp-empty-host', o(LISTEN, 0, b'tcp://:0'))
seed('open', 'tcp-bracket-unclosed', o(LISTEN, 0, b'tcp://[::1:0'))
# One tls+tcp:// seed only: every TLS open builds an SSL_CTX with the system's
# CA store before it looks at the address (~0.1-1 s), which would slow the
# fuzzer down a hundredfold if the corpus were full of them.
seed('open', 'tls-bad-port', o(OPEN, SEND | RECV, b'tls+tcp://127.0.0.1:x'))
seed('open', 'shm-create-attach', o(OPEN2, SEND | RECV | CREATE, b'shm:/demo', SEND | RECV))
seed('open', 'shm-capacity-small', o(OPEN2, SEND | RECV | CREATE, b'shm:/small', SEND | RECV,
                                     cap=1, max_msg=100))
seed('open', 'shm-capacity-odd', o(OPEN, SEND | RECV | CREATE, b'shm:/odd', cap=70000))
seed('open', 'shm-capacity-huge', o(OPEN, SEND | RECV | CREATE, b'shm:/huge', cap=0xffffffff))
seed('open', 'shm-attach-missing', o(OPEN, SEND | RECV, b'shm:/missing'))
seed('open', 'shm-twice-create', o(OPEN2, SEND | RECV | CREATE, b'shm:/twice', SEND | RECV | CREATE))
seed('open', 'shm-bad-name', o(OPEN, SEND | RECV | CREATE, b'shm:/a/b'))
seed('open', 'shm-no-slash', o(OPEN, SEND | RECV | CREATE, b'shm:name'))
seed('open', 'shm-raw', o(OPEN, SEND | RECV | CREATE | RAWF, b'shm:/raw'))
seed('open', 'fd-pipe-read', o(OPEN, RECV, b'fd:0'))
seed('open', 'fd-pipe-write', o(OPEN, SEND, b'fd:1'))
seed('open', 'fd-socket-both', o(OPEN2, SEND | RECV, b'fd:2', SEND | RECV))
seed('open', 'fd-pair', o(OPEN, SEND | RECV, b'fd:0,1'))
seed('open', 'fd-same-twice', o(OPEN, SEND | RECV, b'fd:2,2'))
seed('open', 'fd-pipe-both-ways', o(OPEN, SEND | RECV, b'fd:0'))
seed('open', 'fd-devnull', o(OPEN, SEND | RECV, b'fd:4'))
seed('open', 'fd-memfd', o(OPEN, RECV, b'fd:5'))
seed('open', 'fd-closed', o(OPEN, RECV, b'fd:6'))
seed('open', 'fd-create', o(OPEN, RECV | CREATE, b'fd:0'))
seed('open', 'fd-trailing', o(OPEN, RECV, b'fd:0x'))
seed('open', 'fd-huge', o(OPEN, RECV, b'fd:99999999999999999999'))
seed('open', 'pipe-scheme', o(OPEN, SEND, b'pipe:x'))
seed('open', 'unknown-scheme', o(OPEN, SEND, b'carrier-pigeon:coo'))
seed('open', 'no-scheme', o(OPEN, SEND, b'/tmp/x'))
seed('open', 'empty-uri', o(OPEN, SEND, b''))
seed('open', 'no-direction', o(OPEN, 0, b'fifo:/nodir.fifo'))
seed('open', 'unknown-flag', o(OPEN, SEND | 0x80, b'fifo:/uf.fifo'))
seed('open', 'options-size-short', o(OPEN | SZ_LESS, RECV | CREATE, b'fifo:/s.fifo'))
seed('open', 'options-size-newer-zero', o(OPEN | SZ_MORE, RECV | CREATE, b'fifo:/s.fifo'))
seed('open', 'options-size-newer-set', o(OPEN | SZ_MORE_BAD, RECV | CREATE, b'fifo:/s.fifo'))
seed('open', 'options-max-msg-too-big', o(OPEN, RECV | CREATE, b'fifo:/s.fifo', max_msg=0x80000000))
seed('open', 'options-timeout-bad', o(OPEN, SEND, b'fifo:/t.fifo', timeout=-5))
seed('open', 'listen-fifo', o(LISTEN, 0, b'fifo:/l.fifo'))
seed('open', 'listen-bad-flags', o(LISTEN, SEND, b'unix:bad.sock'))


# ------------------------------------------------------------ listener
# u8 mode, be16 max_msg - 64, then ops: u8 (what << 2 | client) (fuzz-listener.c).
PATHSOCK = 1


def l_head(mode, ngood=1, max_extra=0):
    return bytes([mode | (ngood - 1) << 1]) + be16(max_extra)


def c_conn(c): return bytes([0 << 2 | c])
def c_send(c, b): return bytes([1 << 2 | c, len(b)]) + b
def c_hello(c, m=1 << 20): return bytes([2 << 2 | c]) + be32(m)
def c_frame(c, n): return bytes([3 << 2 | c]) + be16(n)
def c_shut(c): return bytes([4 << 2 | c])
def c_close(c): return bytes([5 << 2 | c])
def c_read(c): return bytes([6 << 2 | c])


ACCEPT = bytes([7 << 2])
DROP = bytes([8 << 2])

seed('listener', 'good-only-abstract', l_head(0))
seed('listener', 'good-only-path', l_head(PATHSOCK, 4))
seed('listener', 'silent-clients', l_head(0, 2) + c_conn(0) + c_conn(1) + c_conn(2) + c_conn(3) +
     ACCEPT + c_read(0))
seed('listener', 'http-client', l_head(PATHSOCK) + c_send(0, b'GET / HTTP/1.1\r\nHost: x\r\n\r\n') +
     ACCEPT + c_read(0) + ACCEPT)
seed('listener', 'half-hello-then-close', l_head(0) + c_send(1, HELLO_BYTES[:5]) + ACCEPT +
     c_close(1) + ACCEPT)
seed('listener', 'hello-byte-by-byte', l_head(0, 2) +
     b''.join(c_send(2, bytes([b])) + ACCEPT for b in HELLO_BYTES) + c_frame(2, 10) + ACCEPT +
     c_read(2))
seed('listener', 'hostile-valid-hello-silent', l_head(PATHSOCK, 3) + c_hello(0) + c_hello(1) +
     ACCEPT + c_read(0) + c_read(1))
seed('listener', 'hostile-hello-then-garbage', l_head(0) + c_hello(0) +
     c_send(0, b'\xff\xff\xff\xff') + ACCEPT + ACCEPT)
seed('listener', 'hostile-frames', l_head(0, 2, 100) + c_hello(3) + c_frame(3, 10) +
     c_frame(3, 164) + c_frame(3, 165) + ACCEPT + c_read(3))
seed('listener', 'hostile-big-frame', l_head(PATHSOCK) + c_hello(1) + c_frame(1, 60000) + ACCEPT)
seed('listener', 'bad-version', l_head(0) + c_send(0, HELLO_BYTES[:4] + b'\x07') + ACCEPT)
seed('listener', 'bad-max-msg', l_head(0) + c_send(0, HELLO_BYTES[:8] + b'\x80\0\0\0') + ACCEPT)
seed('listener', 'shutdown-write', l_head(0) + c_send(2, HELLO_BYTES[:3]) + c_shut(2) + ACCEPT +
     c_read(2))
seed('listener', 'frame-before-hello', l_head(0) + c_frame(0, 3) + ACCEPT)
seed('listener', 'accepted-then-dropped', l_head(PATHSOCK, 2) + c_hello(0) + ACCEPT + DROP +
     c_hello(1) + c_frame(1, 1) + ACCEPT + c_close(1) + DROP)
seed('listener', 'reconnect', l_head(0) + c_hello(0) + c_close(0) + c_hello(0) + ACCEPT +
     c_read(0) + c_close(0) + ACCEPT)


# ------------------------------------------------------------ shm
# u8 mode, then ops: u8 (arg << 5 | side << 4 | what) (fuzz-shm.c).
A, B = 0, 1
CAP8K, CAP32K, FD_A, FD_B = 1, 3, 4, 8
MAX_RING, MAX_100, MAX_1 = 0x10, 0x20, 0x30


def m_op(what, side, arg=0): return bytes([arg << 5 | side << 4 | what])
def m_send(side, n): return m_op(0, side) + be16(n)
def m_recv(side, capidx): return m_op(1, side, capidx)  # caps: 0 1 8 63 64 1000 4096 65536
def m_size(side): return m_op(2, side)
def m_alloc(side): return m_op(3, side)
def m_poke(off, width_log2, v): return m_op(4, 0, width_log2) + be16(off) + struct.pack('>Q', v)
def m_field(idx, v): return m_op(5, idx >> 3, idx & 7) + struct.pack('>Q', v)
def m_poll(side): return m_op(6, side)
def m_fd(side): return m_op(7, side)


M_REATTACH = m_op(8, 0)
def m_send_t(side, n, ms=1): return m_op(9, side, ms - 1) + be16(n)
def m_recv_t(side, ms=1): return m_op(10, side, ms - 1)
def m_loan_send(side, n, arg=0): return m_op(11, side, arg) + be16(n)  # arg 1 half, 2 abort
def m_loan_recv(side): return m_op(12, side)


PING = m_send(A, 5) + m_recv(B, 6) + m_send(B, 7) + m_recv(A, 6)
seed('shm', 'ping-pong', bytes([0]) + PING * 3)
seed('shm', 'ping-pong-event-loop', bytes([FD_A | FD_B]) + PING + m_recv(A, 6) + m_recv(B, 6) +
     m_poll(A) + m_poll(B) + PING)
seed('shm', 'sizes-and-alloc', bytes([CAP8K]) + m_send(A, 0) + m_send(A, 100) + m_size(B) +
     m_recv(B, 6) + m_size(B) + m_recv(B, 2) + m_alloc(B) + m_alloc(B))
seed('shm', 'fill-the-ring', bytes([0]) + m_send(A, 1000) * 6 + m_recv(B, 5) * 6 + m_send(A, 1000) * 4)
seed('shm', 'wrap-around', bytes([0]) + (m_send(A, 1000) + m_recv(B, 5)) * 12)
seed('shm', 'max-msg-default', bytes([0]) + m_send(A, 2048) + m_send(A, 2049) + m_recv(B, 6))
seed('shm', 'max-msg-whole-ring', bytes([MAX_RING]) + m_send(B, 4088) + m_send(B, 4089) +
     m_recv(A, 6) + m_recv(A, 7))
seed('shm', 'max-msg-one', bytes([MAX_1 | CAP32K]) + m_send(A, 1) + m_send(A, 2) + m_recv(B, 1))
seed('shm', 'queued-poll', bytes([MAX_100]) + m_send(A, 100) + m_poll(B) + m_poll(A) + m_recv(B, 7))
seed('shm', 'timeouts', bytes([0]) + m_recv_t(A, 2) + m_send(A, 1) + m_recv_t(B, 3) +
     m_send_t(B, 3000, 2) + m_send_t(B, 3000, 2))
seed('shm', 'reattach', bytes([FD_B]) + m_send(A, 10) + M_REATTACH + m_recv(B, 6) + m_send(B, 3) +
     M_REATTACH + m_recv(A, 6))
seed('shm', 'scribble-tail', bytes([0]) + m_send(A, 8) + m_field(1, 0x7777777777777777) +
     m_recv(B, 6) + m_send(A, 8) + m_recv(B, 6))
seed('shm', 'scribble-rpos-odd', bytes([0]) + m_send(A, 8) + m_field(4, 3) + m_recv(B, 6) +
     m_send(A, 8))
seed('shm', 'scribble-head', bytes([0]) + m_send(A, 1000) * 4 + m_field(2, 0xfff0) + m_send(A, 1000))
seed('shm', 'scribble-record-length', bytes([0]) + m_send(A, 16) + m_poke(4096 + 4, 2, 0xffffff00) +
     m_recv(B, 6) + m_alloc(B) + m_size(B))
seed('shm', 'scribble-record-state', bytes([0]) + m_send(B, 16) + m_poke(4096 + 4096, 2, 1 << 3 | 1) +
     m_recv(A, 6) + m_recv_t(A, 2))
seed('shm', 'scribble-lock-held', bytes([0]) + m_field(0, 1 << 7) + m_send(A, 4) + m_field(11, 2 << 7) +
     m_recv(A, 6))
seed('shm', 'scribble-lock-dead-tag', bytes([0]) + m_field(8, 5 << 7 | 9) + m_send(B, 4) + m_recv(A, 6))
seed('shm', 'scribble-waiters', bytes([0]) + m_field(5, 0xffffffff) + m_field(6, 7) + m_send(A, 4) +
     m_recv_t(B, 1) + m_recv_t(B, 1))
seed('shm', 'scribble-slot-side', bytes([0]) + m_field(7, 0) + m_send(A, 4) + m_recv(B, 6) +
     m_send(B, 4) + m_recv(A, 6))
seed('shm', 'scribble-live-count', bytes([0]) + m_field(15, 0) + m_send(A, 4) + m_recv(A, 6))
seed('shm', 'loans-wrap', bytes([0]) + (m_loan_send(A, 1000) + m_loan_recv(B) + m_send(B, 700) +
     m_loan_recv(A)) * 8 + m_loan_send(A, 900, 1) + m_loan_send(A, 900, 2) + m_send(A, 3) +
     m_loan_recv(B) * 3 + m_loan_send(A, 2049))
seed('shm', 'loans-scribbled-length', bytes([0]) + m_loan_send(B, 16) +
     m_poke(4096 + 4096 + 4, 2, 0xffffff00) + m_loan_recv(A) + m_loan_send(A, 8))
seed('shm', 'scribble-claim', bytes([0]) + m_send(A, 1000) * 4 + m_field(14, 4096 + 1) +
     m_recv(B, 5) + m_send(A, 1000) * 2)
seed('shm', 'scribble-meta-then-reattach', bytes([0]) + m_poke(16, 3, 12345) + M_REATTACH +
     m_send(A, 1) + m_recv(B, 6))
seed('shm', 'scribble-magic-then-reattach', bytes([CAP8K]) + m_poke(0, 2, 0) + M_REATTACH + m_send(A, 1))
seed('shm', 'scribble-receiver-limit', bytes([0]) + m_field(6, 1) + m_send(A, 100) + m_recv(B, 6) +
     m_field(6, 0xffffffff) + m_send(A, 3000) + m_recv(B, 6))
seed('shm', 'scribble-data-only', bytes([0]) + m_send(A, 64) + m_poke(4096 + 8 + 3, 0, 0x55) +
     m_recv(B, 6) + m_send(A, 64) + m_recv(B, 6))


def main():
    for target, items in SEEDS.items():
        d = os.path.join(HERE, 'corpus', target)
        os.makedirs(d, exist_ok=True)
        keep = {name for name, _ in items}
        for old in os.listdir(d):
            if old not in keep:
                os.remove(os.path.join(d, old))
        for name, data in items:
            with open(os.path.join(d, name), 'wb') as f:
                f.write(data)
        print('%s: %d seeds' % (target, len(items)))


if __name__ == '__main__':
    sys.exit(main())
