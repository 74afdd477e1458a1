"""Tests of the ipc module: run by meson test against the build tree and,
through staged.sh, against a staged install.

Environment: IPC_PEER (the C helper ipc-peer), IPC_STRESS (scales the
message counts). Every wait is bounded; a failing case fails, never hangs.
"""
import array
import asyncio
import errno
import gc
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import ipc

PEER = os.environ.get("IPC_PEER", "")
STRESS = max(1, int(os.environ.get("IPC_STRESS", "1") or "1"))
WAIT = 10.0     # seconds any single wait in a test may take before it fails


def fd_count():
    return len(os.listdir("/proc/self/fd"))


def shm_name(tag):
    return "/ipc-py-%d-%s" % (os.getpid(), tag)


def shm_ends(tag, attach=None, **create):
    """Both sides of a new shm object: its creator (side A, open()'s keywords
    in create) and an attacher (side B, keywords in attach)."""
    name = shm_name(tag)
    a = ipc.open("shm:" + name, ipc.SEND | ipc.RECV | ipc.CREATE, **create)
    try:
        b = ipc.open("shm:" + name, open_timeout=WAIT, **(attach or {}))
    except BaseException:
        a.close()
        raise
    return a, b


def connect(l, **kw):
    """(client, server): a connection to listener l and its accepted end."""
    got = []
    t = threading.Thread(target=lambda: got.append(l.accept(WAIT)))
    t.start()
    try:
        c = ipc.open(l.addr, open_timeout=WAIT, **kw)
    finally:
        t.join(WAIT)
    if not got:
        c.close()
        raise AssertionError("accept() did not return the connection")
    return c, got[0]


class Peer:
    """The C helper as a child process; its first output line is "ready" or
    the bound URI."""

    def __init__(self, *args, pass_fds=()):
        if not PEER:
            raise unittest.SkipTest("IPC_PEER not set: no C peer to talk to")
        self.p = subprocess.Popen([PEER] + [str(a) for a in args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, pass_fds=pass_fds, text=True)

    def line(self):
        # readline blocks at most until the peer's own 10 s waits fail.
        return self.p.stdout.readline().strip()

    def finish(self, test):
        try:
            out, err = self.p.communicate(timeout=WAIT * 2)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, err = self.p.communicate()
            test.fail("ipc-peer timed out: %s" % err)
        test.assertEqual(self.p.returncode, 0, "ipc-peer failed: %s" % err)
        return out


class TempDir:
    def __enter__(self):
        self.d = tempfile.mkdtemp(prefix="ipc-py-")
        return self.d

    def __exit__(self, *exc):
        for f in os.listdir(self.d):
            os.unlink(os.path.join(self.d, f))
        os.rmdir(self.d)


class Base(unittest.TestCase):
    """Fails a test that leaks a descriptor or a /dev/shm object."""

    def setUp(self):
        gc.collect()
        self.fds = fd_count()
        self.shm = {f for f in os.listdir("/dev/shm") if f.startswith("ipc-py-%d-" % os.getpid())}

    def tearDown(self):
        gc.collect()
        self.assertEqual(fd_count(), self.fds, "descriptor leak")
        shm = {f for f in os.listdir("/dev/shm") if f.startswith("ipc-py-%d-" % os.getpid())}
        self.assertEqual(shm, self.shm, "shm object leak")


class TestBasics(Base):
    def test_version(self):
        self.assertRegex(ipc.version(), r"^\d+\.\d+\.\d+$")
        self.assertEqual(ipc.version(), ipc.__version__)
        self.assertEqual((ipc.SEND, ipc.RECV, ipc.CREATE, ipc.RAW, ipc.ANY_UID, ipc.INHERIT),
                         (1, 2, 4, 8, 16, 32))
        self.assertEqual(ipc.strerror(-errno.EPIPE), ipc.strerror(-32))

    def test_pipe_roundtrip_and_bytes_like(self):
        rx, tx = ipc.pipe()
        with rx, tx:
            payloads = [b"", b"hello", bytearray(b"ba"), memoryview(b"xmemoryx")[1:-1],
                        array.array("i", [1, 2, 3])]
            for p in payloads:
                self.assertEqual(tx.send(p), memoryview(p).nbytes)
            for p in payloads:
                self.assertEqual(rx.recv(WAIT), bytes(memoryview(p).cast("B")))
            with self.assertRaises(BufferError):
                tx.send(memoryview(b"abcdef")[::2])   # not contiguous
            with self.assertRaises(TypeError):
                tx.send("text is not bytes")

    def test_pair(self):
        a, b = ipc.pair()
        with a, b:
            a.send(b"ping")
            self.assertEqual(b.recv(WAIT), b"ping")
            b.send(b"pong")
            self.assertEqual(a.recv(WAIT), b"pong")
        a, b = ipc.pair(ipc.RAW)
        with a, b:
            self.assertTrue(a.raw)
            a.send(b"bytes")
            self.assertEqual(b.recv(WAIT), b"bytes")

    def test_flush(self):
        rx, tx = ipc.pipe()
        with rx:
            tx.flush(0)                         # nothing left: returns at once
            tx.send(b"x" * (1 << 20), WAIT)     # committed; a tail is left
            with self.assertRaises(BlockingIOError):
                tx.flush(0)
            got = []
            t = threading.Thread(target=lambda: got.append(rx.recv(WAIT)))
            t.start()
            tx.flush(WAIT)
            t.join(WAIT)
            self.assertEqual(len(got[0]), 1 << 20)
            tx.close()

    def test_recv_into(self):
        rx, tx = ipc.pipe()
        with rx, tx:
            tx.send(b"0123456789")
            small = bytearray(4)
            with self.assertRaises(OSError) as cm:
                rx.recv_into(small, WAIT)
            self.assertEqual(cm.exception.errno, errno.EMSGSIZE)
            buf = bytearray(16)
            self.assertEqual(rx.recv_into(buf, timeout=WAIT), 10)   # it stayed queued
            self.assertEqual(buf[:10], b"0123456789")
            with self.assertRaises((TypeError, BufferError)):
                rx.recv_into(b"read-only")

    def test_timeouts(self):
        rx, tx = ipc.pipe()
        with rx, tx:
            with self.assertRaises(BlockingIOError) as cm:
                rx.recv(0)
            self.assertEqual(cm.exception.errno, errno.EAGAIN)
            t = time.monotonic()
            with self.assertRaises(TimeoutError):
                rx.recv(0.12)
            self.assertGreaterEqual(time.monotonic() - t, 0.12)
            with self.assertRaises(TimeoutError):
                rx.recv(timeout=1e-9)       # positive: a timeout, not "would block"
            for bad in (-1, float("nan"), "1"):
                with self.assertRaises((ValueError, TypeError)):
                    rx.recv(bad)
            with self.assertRaises(TypeError):
                rx.recv(1, 2)
            with self.assertRaises(TypeError):
                rx.recv(tmeout=1)

    def test_large_send_timeout_0(self):
        # A message that fits goes out with timeout 0 whatever its size
        # (from 64 KiB on it is tried with the GIL released).
        a, b = shm_ends("big0")
        with a, b:
            big = os.urandom(100000)
            self.assertEqual(b.send(big, 0), len(big))
            self.assertEqual(a.recv(WAIT), big)

    def test_eof_broken_pipe_closed(self):
        rx, tx = ipc.pipe()
        tx.send(b"last")
        tx.close()
        tx.close()                              # twice is fine
        self.assertTrue(tx.closed)
        self.assertEqual(rx.recv(WAIT), b"last")
        with self.assertRaises(EOFError):
            rx.recv(WAIT)
        with self.assertRaises(ValueError):
            tx.send(b"x")
        with self.assertRaises(ValueError):
            tx.fileno()
        rx.close()
        rx, tx = ipc.pipe()
        rx.close()
        with self.assertRaises(BrokenPipeError):
            tx.send(b"nobody reads", WAIT)
        tx.close()

    def test_open_errors(self):
        with TempDir() as d:
            with self.assertRaises(FileNotFoundError) as cm:
                ipc.open("fifo:" + d + "/none", ipc.RECV)
            self.assertEqual(cm.exception.filename, "fifo:" + d + "/none")
            with self.assertRaises(OSError) as cm:
                ipc.open("nosuch:thing")
            self.assertEqual(cm.exception.errno, errno.EPROTONOSUPPORT)
            with self.assertRaises(OSError) as cm:
                ipc.open("fifo:" + d + "/f", ipc.SEND | ipc.RECV | ipc.CREATE)
            self.assertEqual(cm.exception.errno, errno.EINVAL)
            with self.assertRaises((FileNotFoundError, ConnectionRefusedError)):
                ipc.open("unix:" + d + "/no.sock", open_timeout=WAIT)
            with self.assertRaises(ValueError):
                ipc.open("unix:" + d + "/no.sock", open_timeout=0)
            with self.assertRaises(ValueError):
                ipc.open("unix:" + d + "/no.sock", mode=0o10000)
            with self.assertRaises(TypeError):
                ipc.open("unix:" + d + "/no.sock", colour="red")
            with self.assertRaises(TypeError):
                ipc.Channel()

    def test_options_mode_and_max_msg(self):
        with TempDir() as d:
            path = d + "/m.fifo"
            with ipc.open("fifo:" + path, ipc.RECV | ipc.CREATE, mode=0o640):
                self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o640)
            self.assertFalse(os.path.exists(path))     # its owner removed it
        # On shm, max_msg bounds what a handle sends (ipc-shm(7)).
        a, b = shm_ends("maxmsg", capacity=65536, attach={"max_msg": 1000})
        with a, b:
            with self.assertRaises(OSError) as cm:
                b.send(b"x" * 1001, WAIT)
            self.assertEqual(cm.exception.errno, errno.EMSGSIZE)
            b.send(b"x" * 1000, WAIT)
            self.assertEqual(len(a.recv(WAIT)), 1000)

    def test_raw(self):
        r, w = os.pipe()
        with ipc.open("fd:%d" % r, ipc.RECV | ipc.RAW) as rx:
            self.assertTrue(rx.raw)
            os.write(w, b"plain bytes")
            os.close(w)
            got = b""
            try:
                while True:
                    got += rx.recv(WAIT)
            except EOFError:
                pass
            self.assertEqual(got, b"plain bytes")

    def test_listener(self):
        with TempDir() as d, ipc.listen("unix:" + d + "/l.sock") as l:
            self.assertEqual(l.addr, "unix:" + d + "/l.sock")
            self.assertIsInstance(l.fileno(), int)
            with self.assertRaises(BlockingIOError):
                l.accept(0)
            with self.assertRaises(TimeoutError):
                l.accept(0.05)
            c, s = connect(l)
            with c, s:
                c.send(b"ping")
                self.assertEqual(s.recv(WAIT), b"ping")
                pid, uid, gid = s.peer_cred()
                self.assertEqual((pid, uid), (os.getpid(), os.geteuid()))
            l.shutdown()
            with self.assertRaises(EOFError):
                l.accept(WAIT)

    def test_poll(self):
        rx, tx = ipc.pipe()
        with rx, tx:
            self.assertEqual(ipc.poll([(rx, ipc.POLLIN)], 0), [])
            self.assertEqual(ipc.poll([(rx, ipc.POLLIN)], 0.05), [])
            self.assertEqual(ipc.poll([(tx, ipc.POLLOUT)], WAIT), [(tx, ipc.POLLOUT)])
            tx.send(b"x")
            self.assertEqual(ipc.poll([(rx, ipc.POLLIN), (rx, ipc.POLLIN)], WAIT),
                             [(rx, ipc.POLLIN), (rx, ipc.POLLIN)])
            with self.assertRaises(TypeError):
                ipc.poll([(object(), ipc.POLLIN)])
            with self.assertRaises(TypeError):
                ipc.poll([rx])
        with self.assertRaises(ValueError):
            ipc.poll([(rx, ipc.POLLIN)], 0)

    def test_sigwatch_and_notify(self):
        # A child process, so that blocking the signal cannot affect other
        # threads of this one (the watcher needs it blocked in every thread).
        code = ("import ipc, os, signal\n"
                "w = ipc.SigWatch([signal.SIGUSR1])\n"
                "ipc.notify(os.getpid(), signal.SIGUSR1, 42)\n"
                "s = w.read(%r)\n"
                "print(s.signo == signal.SIGUSR1, s.pid == os.getpid(), s.value)\n"
                "print(ipc.poll([(w, ipc.POLLIN)], 0))\n"
                "w.close()\n" % WAIT)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=WAIT * 3)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout, "True True 42\n[]\n")


class TestCrossLanguage(Base):
    """Every transport, both ways, between this process and the C helper."""

    N = 50

    def expect_msgs(self, rx, n=None):
        for i in range(self.N if n is None else n):
            self.assertEqual(rx.recv(WAIT), b"msg-%d" % i)

    def echo_check(self, ch):
        for i in range(self.N):
            msg = os.urandom(i * 37)
            ch.send(msg, WAIT)
            self.assertEqual(ch.recv(WAIT), msg)

    def test_pipe_python_to_c(self):
        rx, tx = ipc.pipe()
        peer = Peer("recv", "fd:%d" % rx.fileno(), "r", self.N, pass_fds=[rx.fileno()])
        rx.close()
        with tx:
            self.assertEqual(peer.line(), "ready")
            for i in range(self.N):
                tx.send(b"msg-%d" % i, WAIT)
        out = peer.finish(self)
        self.assertEqual(out.split(), ["msg-%d" % i for i in range(self.N)])

    def test_pipe_c_to_python(self):
        rx, tx = ipc.pipe()
        peer = Peer("send", "fd:%d" % tx.fileno(), "s", self.N, pass_fds=[tx.fileno()])
        tx.close()
        with rx:
            self.expect_msgs(rx)
            peer.finish(self)
            with self.assertRaises(EOFError):
                rx.recv(WAIT)

    def test_inherit_pipe_as_stdin(self):
        # An IPC_INHERIT end becomes the C peer's stdin (dup2 + exec).
        rx, tx = ipc.pipe(ipc.INHERIT)
        if not PEER:
            self.skipTest("IPC_PEER not set")
        p = subprocess.Popen([PEER, "recv", "fd:0", "r", str(self.N)], stdin=rx.fileno(),
                             stdout=subprocess.PIPE, text=True)
        rx.close()
        with tx:
            for i in range(self.N):
                tx.send(b"msg-%d" % i, WAIT)
        out, _ = p.communicate(timeout=WAIT * 2)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(out.split(), ["ready"] + ["msg-%d" % i for i in range(self.N)])

    def test_pair_with_c(self):
        a, b = ipc.pair(ipc.INHERIT)
        peer = Peer("echo", "fd:%d" % b.fileno(), "sr", pass_fds=[b.fileno()])
        b.close()
        with a:
            self.assertEqual(peer.line(), "ready")
            self.echo_check(a)
        peer.finish(self)

    def test_fd_both_ways(self):
        r, w = os.pipe()
        peer = Peer("recv", "fd:%d" % r, "r", self.N, pass_fds=[r])
        os.close(r)
        self.assertEqual(peer.line(), "ready")
        with ipc.open("fd:%d" % w, ipc.SEND) as tx:
            for i in range(self.N):
                tx.send(b"msg-%d" % i, WAIT)
        self.assertEqual(peer.finish(self).split(), ["msg-%d" % i for i in range(self.N)])
        r, w = os.pipe()
        peer = Peer("send", "fd:%d" % w, "s", self.N, pass_fds=[w])
        os.close(w)
        with ipc.open("fd:%d" % r, ipc.RECV) as rx:
            self.expect_msgs(rx)
        peer.finish(self)

    def test_fifo_both_ways(self):
        with TempDir() as d:
            uri = "fifo:" + d + "/p2c"
            with ipc.open(uri, ipc.RECV | ipc.CREATE) as rx:
                peer = Peer("send", uri, "s", self.N)
                self.expect_msgs(rx)
                peer.finish(self)
            uri = "fifo:" + d + "/c2p"
            peer = Peer("recv", uri, "rc", self.N)
            self.assertEqual(peer.line(), "ready")
            with ipc.open(uri, ipc.SEND, open_timeout=WAIT) as tx:
                for i in range(self.N):
                    tx.send(b"msg-%d" % i, WAIT)
            self.assertEqual(peer.finish(self).split(), ["msg-%d" % i for i in range(self.N)])

    def sockets(self, uri):
        # C server, Python client.
        peer = Peer("serve", uri)
        addr = peer.line()
        with ipc.open(addr, open_timeout=WAIT) as ch:
            self.echo_check(ch)
        peer.finish(self)
        # Python server, C client.
        with ipc.listen(uri) as l:
            peer = Peer("echo", l.addr, "sr")
            with l.accept(WAIT) as ch:
                self.assertEqual(peer.line(), "ready")
                self.echo_check(ch)
        peer.finish(self)

    def test_tcp_both_ways(self):
        self.sockets("tcp://127.0.0.1:0")

    def test_unix_both_ways(self):
        with TempDir() as d:
            self.sockets("unix:" + d + "/s.sock")

    def test_shm_both_ways(self):
        name = shm_name("c-creates")
        peer = Peer("echo", "shm:" + name, "src")
        self.assertEqual(peer.line(), "ready")
        with ipc.open("shm:" + name, open_timeout=WAIT) as ch:
            self.echo_check(ch)
        peer.finish(self)
        name = shm_name("py-creates")
        with ipc.open("shm:" + name, ipc.SEND | ipc.RECV | ipc.CREATE) as ch:
            peer = Peer("echo", "shm:" + name, "sr")
            self.assertEqual(peer.line(), "ready")
            self.echo_check(ch)
            # The peer sees EOF when we close, and exits.
        peer.finish(self)


def sigint_after(delay, sent):
    """SIGINT to this process from another thread, like Ctrl-C; the time it
    was sent goes into sent[]."""
    def kill():
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)
    t = threading.Timer(delay, kill)
    t.start()
    return t


class TestInterrupt(Base):
    """Ctrl-C stops a blocking call in the main thread with KeyboardInterrupt.
    The bound asserted is loose (the design gives one 25 ms slice); the
    measured delay is printed."""

    def interrupted(self, call):
        if threading.current_thread() is not threading.main_thread():
            self.skipTest("signals are handled only in the main thread")
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            self.skipTest("SIGINT has a handler other than Python's default")
        sent = []
        t = sigint_after(0.2, sent)
        with self.assertRaises(KeyboardInterrupt):
            call()
            time.sleep(WAIT)        # not reached unless the call returned
        took = time.monotonic() - sent[0]
        t.join()
        print("\n  KeyboardInterrupt %.1f ms after SIGINT" % (took * 1000), file=sys.stderr)
        self.assertLess(took, WAIT / 2)

    def test_recv_pipe(self):
        rx, tx = ipc.pipe()
        with rx, tx:
            self.interrupted(rx.recv)
            tx.send(b"still works")
            self.assertEqual(rx.recv(WAIT), b"still works")

    def test_recv_shm(self):
        a, b = shm_ends("int")
        with a, b:
            self.interrupted(lambda: a.recv(timeout=WAIT * 10))
            b.send(b"after")
            self.assertEqual(a.recv(WAIT), b"after")

    def test_send_full_pipe(self):
        rx, tx = ipc.pipe()
        big = b"x" * (1 << 20)

        def fill():
            while True:
                tx.send(big)
        self.interrupted(fill)
        rx.close()
        try:
            tx.close()          # a committed tail cannot go out: OSError
        except OSError:
            pass

    def test_accept_poll_fifo_open(self):
        with TempDir() as d:
            with ipc.listen("unix:" + d + "/i.sock") as l:
                self.interrupted(l.accept)
                self.interrupted(lambda: ipc.poll([(l, ipc.POLLIN)]))
            # A FIFO writer waits for a reader that never comes.
            os.mkfifo(d + "/w.fifo", 0o600)
            self.interrupted(lambda: ipc.open("fifo:" + d + "/w.fifo", ipc.SEND))

    def test_ctrl_c_child(self):
        # A real Ctrl-C scenario: a python process blocked in recv() forever
        # gets SIGINT and dies of KeyboardInterrupt.
        code = ("import ipc, sys\nrx, tx = ipc.pipe()\n"
                "try:\n    print('ready', flush=True)\n    rx.recv()\n"
                "except KeyboardInterrupt:\n    sys.exit(42)\n")
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        self.assertEqual(p.stdout.readline().strip(), "ready")
        p.send_signal(signal.SIGINT)
        self.assertEqual(p.wait(WAIT), 42)
        p.stdout.close()


class TestLifetime(Base):
    def test_gc_closes(self):
        name = shm_name("gc")
        before = fd_count()
        for _ in range(20):
            rx, tx = ipc.pipe()
            a = ipc.open("shm:" + name, ipc.SEND | ipc.RECV | ipc.CREATE)
            b = ipc.open("shm:" + name)
            b.fileno()
            self.assertGreater(fd_count(), before)
            del rx, tx, a, b                        # no close(): refcounting frees them
            self.assertEqual(fd_count(), before)
            self.assertFalse(os.path.exists("/dev/shm" + name))
        # A cycle only the collector can break.
        rx, tx = ipc.pipe()
        cycle = [rx, tx]
        cycle.append(cycle)
        del rx, tx, cycle
        gc.collect()
        self.assertEqual(fd_count(), before)

    def test_fork_ownership(self):
        name = shm_name("fork")
        a, b = shm_ends("fork")
        with a, b:
            blocked = threading.Thread(target=lambda: self.assertRaises(EOFError, b.recv))
            blocked.start()                    # holds b's receive lock across fork()
            time.sleep(0)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    # The child may use b although a parent thread held its
                    # lock, and closing its copies must leave the object.
                    try:
                        b.recv(0)
                    except BlockingIOError:
                        pass
                    b.send(b"from the child", WAIT)
                    a.close()
                    b.close()
                    code = 0
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            self.assertEqual(os.waitstatus_to_exitcode(status), 0)
            self.assertTrue(os.path.exists("/dev/shm" + name), "a child's close unlinked it")
            self.assertEqual(a.recv(WAIT), b"from the child")
            b.shutdown()
            blocked.join(WAIT)
            self.assertFalse(blocked.is_alive())

    def test_pipe_fork(self):
        rx, tx = ipc.pipe()
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            try:
                rx.close()
                tx.send(b"hello from the child", WAIT)
            finally:
                os._exit(0)
        tx.close()
        self.assertEqual(rx.recv(WAIT), b"hello from the child")
        os.waitpid(pid, 0)
        rx.close()


class TestThreads(Base):
    def test_sender_and_receiver_threads(self):
        n = 20000 * STRESS
        a, b = shm_ends("thr", capacity=4096)
        with a, b:
            errors = []

            def pump(ch):
                try:
                    for i in range(n):
                        ch.send(i.to_bytes(4, "little"), WAIT)
                except BaseException as e:
                    errors.append(e)

            def drain(ch, out):
                try:
                    for i in range(n):
                        out.append(int.from_bytes(ch.recv(WAIT), "little"))
                except BaseException as e:
                    errors.append(e)
            ra, rb = [], []
            ts = [threading.Thread(target=f, args=x) for f, x in
                  ((pump, (a,)), (pump, (b,)), (drain, (a, ra)), (drain, (b, rb)))]
            for t in ts:
                t.start()
            for t in ts:
                t.join(WAIT * 10)
            self.assertEqual(errors, [])
            self.assertEqual(ra, list(range(n)))
            self.assertEqual(rb, list(range(n)))

    def test_two_receivers_serialized(self):
        n = 5000 * STRESS
        rx, tx = ipc.pipe()
        got = [[], []]

        def drain(out):
            try:
                while True:
                    out.append(rx.recv(WAIT))
            except EOFError:
                pass
        with rx, tx:
            ts = [threading.Thread(target=drain, args=(g,)) for g in got]
            for t in ts:
                t.start()
            for i in range(n):
                tx.send(b"%d" % i, WAIT)
            tx.close()
            for t in ts:
                t.join(WAIT * 10)
        msgs = sorted(int(m) for m in got[0] + got[1])
        self.assertEqual(msgs, list(range(n)))     # each exactly once, whole

    def assert_woken(self, call, wake, *raises):
        """call() in a thread that wake() ends, with one of the exceptions
        raises (it may not have blocked yet when wake() runs)."""
        res = []

        def blocked():
            try:
                call()
            except raises as e:
                res.append(type(e))
        t = threading.Thread(target=blocked)
        t.start()
        wake()
        t.join(WAIT)
        self.assertFalse(t.is_alive())
        self.assertEqual(len(res), 1)

    def test_close_wakes_blocked_recv(self):
        rx, tx = ipc.pipe()
        # close() wakes it (ipc_shutdown), then frees; or it finds it closed
        self.assert_woken(rx.recv, rx.close, EOFError, ValueError)
        tx.close()

    def test_shutdown_wakes_blocked_accept(self):
        with TempDir() as d, ipc.listen("unix:" + d + "/s.sock") as l:
            # ipc_listener_shutdown: now or before it blocks
            self.assert_woken(l.accept, l.shutdown, EOFError)

    def test_close_wakes_blocked_accept(self):
        with TempDir() as d:
            l = ipc.listen("unix:" + d + "/c.sock")
            self.assert_woken(l.accept, l.close, EOFError, ValueError)

    def test_gil_released(self):
        # While one thread blocks in recv, another runs Python code.
        rx, tx = ipc.pipe()
        with rx, tx:
            t = threading.Thread(target=lambda: rx.recv(WAIT))
            t.start()
            count = 0
            end = time.monotonic() + 0.2
            while time.monotonic() < end:
                count += 1
            tx.send(b"done")
            t.join(WAIT)
            self.assertGreater(count, 1000)


class TestAsyncio(Base):
    def test_recv_async_drains_edge(self):
        # Many messages queued before the loop looks: every one is returned
        # (the edge-style rule: drain with timeout 0 until BlockingIOError).
        async def main():
            a, b = shm_ends("aio")
            with a, b:
                for i in range(100):
                    b.send(b"%d" % i)
                got = [await a.recv_async(timeout=WAIT) for _ in range(100)]
                self.assertEqual(got, [b"%d" % i for i in range(100)])
                with self.assertRaises(asyncio.TimeoutError):
                    await a.recv_async(timeout=0.05)
                task = asyncio.ensure_future(a.recv_async())
                await asyncio.sleep(0.01)
                self.assertEqual(await b.send_async(b"late"), 4)
                self.assertEqual(await asyncio.wait_for(task, WAIT), b"late")
                b.close()
                with self.assertRaises(EOFError):
                    await a.recv_async(timeout=WAIT)
        asyncio.run(main())

    def test_asyncio_server(self):
        async def handle(ch):
            with ch:
                try:
                    while True:
                        await ch.send_async(await ch.recv_async())
                except EOFError:
                    pass

        async def main():
            with TempDir() as d, ipc.listen("unix:" + d + "/aio.sock") as l:
                tasks = []

                async def serve():
                    while True:
                        tasks.append(asyncio.ensure_future(handle(await l.accept_async())))
                server = asyncio.ensure_future(serve())

                def client(i):
                    with ipc.open(l.addr, open_timeout=WAIT) as c:
                        for j in range(50):
                            c.send(b"%d-%d" % (i, j), WAIT)
                            assert c.recv(WAIT) == b"%d-%d" % (i, j)
                loop = asyncio.get_running_loop()
                await asyncio.wait_for(asyncio.gather(
                    *[loop.run_in_executor(None, client, i) for i in range(4)]), WAIT * 3)
                await asyncio.wait_for(asyncio.gather(*tasks), WAIT)   # each saw EOF
                self.assertEqual(len(tasks), 4)
                server.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.run(main())


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class TestMemory(Base):
    def flat(self, a, b, n):
        msg = b"m" * 64
        buf = bytearray(64)

        def loop(k):
            for _ in range(k):
                a.send(msg)
                b.recv()
                b.send(msg)
                a.recv_into(buf)
                ipc.poll([(a, ipc.POLLIN)], 0)
        loop(10000)                    # warm up: arenas and caches at their size
        gc.collect()
        before = rss_kib()
        loop(n)
        gc.collect()
        grown = rss_kib() - before
        print("\n  RSS %+d KiB over %d round trips" % (grown, n), file=sys.stderr)
        # A leak of even one bytes object per round trip is > 9 MB here.
        self.assertLess(grown, 4096)

    def test_rss_flat_shm(self):
        a, b = shm_ends("rss")
        with a, b:
            self.flat(a, b, 100000 * STRESS)

    def test_rss_flat_errors(self):
        rx, tx = ipc.pipe()
        with rx, tx:
            before = None
            for i in range(20000 * STRESS + 5000):
                if i == 5000:
                    gc.collect()
                    before = rss_kib()
                try:
                    rx.recv(0)
                except BlockingIOError:
                    pass
            gc.collect()
            self.assertLess(rss_kib() - before, 4096)

    def test_refcounts(self):
        rx, tx = ipc.pipe()
        with rx, tx:
            msg = b"refcount"
            r0 = sys.getrefcount(msg), sys.getrefcount(rx), sys.getrefcount(tx)
            for _ in range(1000):
                tx.send(msg)
                rx.recv()
            self.assertEqual((sys.getrefcount(msg), sys.getrefcount(rx), sys.getrefcount(tx)), r0)


class TestBatch(Base):
    """sendv / send_batch / recv_batch between Python ends on every kind of
    channel (shm's batch is the library's loop)."""

    def ends(self):
        """(name, sender, receiver) per transport, closed by the caller."""
        rx, tx = ipc.pipe()
        yield "pipe", tx, rx
        a, b = ipc.pair()
        yield "pair", a, b
        with TempDir() as d, ipc.listen("unix:" + d + "/b.sock") as l:
            yield ("unix",) + connect(l)
        a, b = shm_ends("batch", capacity=65536)
        yield "shm", a, b

    def test_sendv_and_batches(self):
        for kind, tx, rx in self.ends():
            with self.subTest(kind), tx, rx:
                self.assertEqual(tx.sendv([b"ab", bytearray(b"cd"), memoryview(b"xefx")[1:3], b""],
                                          WAIT), 6)
                self.assertEqual(rx.recv(WAIT), b"abcdef")
                self.assertEqual(tx.sendv([], WAIT), 0)
                self.assertEqual(rx.recv(WAIT), b"")
                msgs = [b"one", b"", bytearray(b"three"), array.array("B", b"4444")]
                self.assertEqual(tx.send_batch(msgs, WAIT), 4)
                got = []
                while len(got) < 4:
                    got += rx.recv_batch(4 - len(got), WAIT, max_size=16)
                self.assertEqual(got, [b"one", b"", b"three", b"4444"])
                with self.assertRaises(BlockingIOError):
                    rx.recv_batch(3, 0)
                # A message larger than its buffer stops the batch before it
                # and stays queued; as the first one it is EMSGSIZE.
                self.assertEqual(tx.send_batch([b"s", b"L" * 100, b"t"], WAIT), 3)
                got = rx.recv_batch(3, WAIT, max_size=10)
                self.assertEqual(got, [b"s"])
                with self.assertRaises(OSError) as e:
                    rx.recv_batch(3, WAIT, max_size=10)
                self.assertEqual(e.exception.errno, errno.EMSGSIZE)
                got = []
                while len(got) < 2:
                    got += rx.recv_batch(2 - len(got), WAIT, max_size=100)
                self.assertEqual(got, [b"L" * 100, b"t"])

    def test_bad_arguments(self):
        a, b = ipc.pair()
        with a, b:
            with self.assertRaises(TypeError):
                a.sendv([b"x", "text"])
            with self.assertRaises(TypeError):
                a.send_batch(42)
            with self.assertRaises(ValueError):
                b.recv_batch(0)
            with self.assertRaises(ValueError):
                b.recv_batch(1, max_size=-1)
            with self.assertRaises(OSError) as e:
                a.peer_cert()
            self.assertEqual(e.exception.errno, errno.EOPNOTSUPP)
        with self.assertRaises(ValueError):
            a.sendv([b"x"])
        with self.assertRaises(ValueError):
            b.recv_batch(1)


class TestLoans(Base):
    """send_loan / recv_loan: messages built and read in the shm ring itself
    (ipc_send_reserve(3)); a view of a loan never outlives it."""

    def expect_errno(self, err, call, *args):
        with self.assertRaises(OSError) as cm:
            call(*args)
        self.assertEqual(cm.exception.errno, err)

    def test_round_trip_mixed_with_copies(self):
        a, b = shm_ends("loan-rt", capacity=4096)
        with a, b:
            for i in range(200):                # records straddle the ring's end
                msg = bytes((i + k) & 255 for k in range((i * 37) % 2048))
                with b.send_loan(len(msg)) as mv:
                    mv[:] = msg
                with a.recv_loan(WAIT) as mv:
                    self.assertEqual(mv, msg)
            with a.send_loan(5) as mv:
                self.assertFalse(mv.readonly)
                mv[:] = b"first"
            a.send(b"copied")
            with a.send_loan(6, timeout=WAIT) as mv:
                mv[:] = b"third!"
            loan = b.recv_loan(WAIT)
            self.assertEqual((len(loan), loan.active), (5, True))
            with loan as mv:
                self.assertTrue(mv.readonly)
                self.assertEqual(bytes(mv), b"first")
            self.assertFalse(loan.active)
            self.assertEqual(b.recv(WAIT), b"copied")
            with b.recv_loan(timeout=WAIT) as mv:
                self.assertEqual(mv.tobytes(), b"third!")
            # The other ring: loans and copies both ways.
            big = os.urandom(2000)
            with b.send_loan(len(big)) as mv:
                mv[:] = big
            self.assertEqual(a.recv(WAIT), big)
            b.send(big[::-1], WAIT)
            with a.recv_loan(WAIT) as mv:
                self.assertEqual(mv, big[::-1])
            # While a receive loan is out the handle still receives copies.
            a.send(b"x")
            a.send(b"y")
            loan = b.recv_loan(WAIT)
            self.assertEqual(b.recv(WAIT), b"y")
            with loan as mv:
                self.assertEqual(bytes(mv), b"x")
            # One loan of each direction on one handle at once.
            a.send(b"z")
            out, got = b.send_loan(1), b.recv_loan(WAIT)
            with out as mv, got as rmv:
                mv[:] = rmv
            self.assertEqual(a.recv(WAIT), b"z")

    def test_commit_less_than_reserved(self):
        a, b = shm_ends("loan-less")
        with a, b:
            loan = a.send_loan(100)
            with loan as mv:
                mv[:5] = b"hello"
                loan.commit(5)
                self.assertFalse(loan.active)
            self.assertEqual(b.recv(WAIT), b"hello")
            with self.assertRaises(ValueError):
                loan.commit(5)                  # ended
            loan = a.send_loan(8)
            loan.commit(0)
            self.assertEqual(b.recv(WAIT), b"")
            loan = a.send_loan(8)
            for bad in (9, -1):
                with self.assertRaises(ValueError):
                    loan.commit(bad)
            self.assertTrue(loan.active)        # a refused commit leaves it out
            with loan as mv:
                mv[:] = b"12345678"
                loan.commit(n=8)
            self.assertEqual(b.recv(WAIT), b"12345678")

    def test_abort(self):
        a, b = shm_ends("loan-abort")
        with a, b:
            loan = a.send_loan(3)
            with loan as mv:
                mv[:] = b"bad"
                loan.abort()
            loan.abort()                        # ended: nothing to do
            a.send(b"next")
            self.assertEqual(b.recv(WAIT), b"next")
            self.assertRaises(BlockingIOError, b.recv, 0)
            # An exception in the block aborts; the next message goes.
            with self.assertRaises(RuntimeError):
                with a.send_loan(4) as mv:
                    mv[:] = b"lost"
                    raise RuntimeError("fill failed")
            with a.send_loan(4) as mv:
                mv[:] = b"kept"
            self.assertEqual(b.recv(WAIT), b"kept")
            self.assertRaises(BlockingIOError, b.recv, 0)
            # A receive loan is released either way: not delivered again.
            a.send(b"once")
            with self.assertRaises(RuntimeError):
                with b.recv_loan(WAIT) as mv:
                    self.assertEqual(bytes(mv), b"once")
                    raise RuntimeError("handling failed")
            self.assertRaises(BlockingIOError, b.recv_loan, 0)
            # Dropped without being ended: given back by the collector.
            a.send_loan(4)
            with a.send_loan(3) as mv:
                mv[:] = b"new"
            self.assertEqual(b.recv(WAIT), b"new")

    def test_view_never_outlives_the_loan(self):
        a, b = shm_ends("loan-view")
        with a, b:
            loan = a.send_loan(4)
            with loan as mv:
                mv[:] = b"abcd"
            self.assertEqual(b.recv(WAIT), b"abcd")
            for touch in (lambda: mv[0], lambda: bytes(mv), lambda: mv.__setitem__(0, 1)):
                self.assertRaises(ValueError, touch)
            self.assertRaises(ValueError, memoryview, loan)
            a.send(b"read")
            with b.recv_loan(WAIT) as rmv:
                self.assertRaises(TypeError, rmv.__setitem__, 0, 1)     # read-only
            self.assertRaises(ValueError, rmv.tobytes)
            # A slice kept past the block: the end is refused, the ring stays
            # lent (the slice reads the message, not freed memory), and the
            # loan goes back when the slice does.
            a.send(b"pinned")
            with self.assertRaises(BufferError):
                with b.recv_loan(WAIT) as rmv:
                    keep = rmv[1:]
            self.assertRaises(ValueError, rmv.tobytes)
            self.assertEqual(bytes(keep), b"inned")
            self.expect_errno(errno.EBUSY, b.recv_loan, 0)
            self.assertRaises(BufferError, b.close)
            del keep
            a.send(b"after")
            with b.recv_loan(WAIT) as rmv:
                self.assertEqual(bytes(rmv), b"after")
            # The same for a send loan: not sent, then aborted.
            with self.assertRaises(BufferError):
                with a.send_loan(3) as mv:
                    mv[:] = b"abc"
                    keep = mv[:]
            self.assertRaises(BlockingIOError, b.recv, 0)
            del keep
            a.send(b"z")
            self.assertEqual(b.recv(WAIT), b"z")
            # A memoryview of the loan itself must go before the end.
            loan = a.send_loan(2)
            view = memoryview(loan)
            self.assertRaises(BufferError, loan.commit)
            view[:] = b"ok"
            view.release()
            loan.commit()
            self.assertEqual(b.recv(WAIT), b"ok")

    def test_busy(self):
        a, b = shm_ends("loan-busy")
        with a, b:
            first = a.send_loan(8)
            self.expect_errno(errno.EBUSY, a.send_loan, 8)
            first.abort()
            a.send(b"1")
            a.send(b"2")
            got = b.recv_loan(WAIT)
            self.expect_errno(errno.EBUSY, b.recv_loan, WAIT)
            got.release()
            with b.recv_loan(WAIT) as mv:
                self.assertEqual(bytes(mv), b"2")

    def test_not_on_streams(self):
        rx, tx = ipc.pipe()
        with rx, tx:
            self.expect_errno(errno.EOPNOTSUPP, tx.send_loan, 1)
            self.expect_errno(errno.EOPNOTSUPP, rx.recv_loan, 0)
            self.expect_errno(errno.EBADF, tx.recv_loan, 0)     # not opened to receive
        a, b = ipc.pair()
        with a, b:
            self.expect_errno(errno.EOPNOTSUPP, a.send_loan, 1, WAIT)
            self.expect_errno(errno.EOPNOTSUPP, b.recv_loan, WAIT)
            self.assertRaises(ValueError, a.send_loan, -1)
            self.assertRaises(TypeError, a.send_loan, "1")
            self.assertRaises(TypeError, a.recv_loan, 1, 2)
        self.assertRaises(ValueError, a.send_loan, 1)           # closed

    def test_timeouts_and_limits(self):
        a, b = shm_ends("loan-wait", capacity=65536)
        with a, b:
            with self.assertRaises(BlockingIOError) as cm:
                b.recv_loan(0)
            self.assertEqual(cm.exception.errno, errno.EAGAIN)
            self.assertRaises(TimeoutError, b.recv_loan, 0.05)
            self.expect_errno(errno.EMSGSIZE, a.send_loan, 1 << 30)
            while True:                         # fill the ring
                try:
                    a.send(b"f" * 1000, 0)
                except BlockingIOError:
                    break
            self.assertRaises(BlockingIOError, a.send_loan, 1000, 0)
            self.assertRaises(TimeoutError, a.send_loan, 1000, 0.05)

    def test_close_and_shutdown(self):
        a, b = shm_ends("loan-close")
        with a, b:
            loan = a.send_loan(4)
            a.shutdown()
            with self.assertRaises(EOFError):
                with loan as mv:                # the commit fails: aborted
                    mv[:] = b"shut"
            self.assertFalse(loan.active)
            self.assertRaises(EOFError, a.recv_loan, WAIT)
            self.assertRaises(EOFError, a.send_loan, 1, WAIT)
            loan = b.send_loan(4)               # no view: close gives it back
            b.close()
            self.assertFalse(loan.active)
            self.assertRaises(ValueError, loan.commit)
            loan.abort()
            self.assertRaises(ValueError, memoryview, loan)

    def test_blocked_peek_releases_the_gil(self):
        a, b = shm_ends("loan-gil")
        with a, b:
            got = []

            def taker():
                with b.recv_loan(WAIT) as mv:
                    got.append(bytes(mv))
            t = threading.Thread(target=taker)
            t.start()
            count = 0
            end = time.monotonic() + 0.2
            while time.monotonic() < end:
                count += 1
            with a.send_loan(4) as mv:
                mv[:] = b"late"
            t.join(WAIT)
            self.assertGreater(count, 1000)
            self.assertEqual(got, [b"late"])

    def test_fork_child_has_no_loan(self):
        a, b = shm_ends("loan-fork")
        with a, b:
            loan = a.send_loan(6)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    if not loan.active:
                        try:
                            memoryview(loan)
                        except ValueError:
                            try:
                                loan.commit()
                            except ValueError:
                                code = 0
                    a.close()
                    b.close()
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            self.assertEqual(os.waitstatus_to_exitcode(status), 0)
            with loan as mv:
                mv[:] = b"parent"
            self.assertEqual(b.recv(WAIT), b"parent")

    def test_with_c_peer(self):
        name = shm_name("loan-c")
        with ipc.open("shm:" + name, ipc.SEND | ipc.RECV | ipc.CREATE) as ch:
            peer = Peer("echo", "shm:" + name, "sr")
            self.assertEqual(peer.line(), "ready")
            for i in range(50):
                msg = os.urandom(i * 101)
                with ch.send_loan(len(msg), WAIT) as mv:
                    mv[:] = msg
                with ch.recv_loan(WAIT) as mv:
                    self.assertEqual(mv, msg)
        peer.finish(self)

    def test_refcounts(self):
        a, b = shm_ends("loan-ref")
        with a, b:
            r0 = sys.getrefcount(a), sys.getrefcount(b)
            for _ in range(1000):
                with a.send_loan(8) as mv:
                    mv[:] = b"refcount"
                with b.recv_loan(WAIT) as mv:
                    pass
            self.assertEqual((sys.getrefcount(a), sys.getrefcount(b)), r0)


class TestTLS(Base):
    """A tls+tcp:// round trip with certificates from tests/tls-certs.sh."""

    def setUp(self):
        super().setUp()
        script = os.environ.get("IPC_TEST_TLS_CERTS", "")
        if not script:
            self.skipTest("IPC_TEST_TLS_CERTS does not name tests/tls-certs.sh")
        if subprocess.run(["openssl", "version"], capture_output=True).returncode != 0:
            self.skipTest("no openssl command to make certificates with")
        self.dir = tempfile.mkdtemp(prefix="ipc-py-tls-")
        self.addCleanup(self.remove_dir)
        subprocess.run(["sh", script, self.dir], check=True, timeout=120)

    def remove_dir(self):
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        os.rmdir(self.dir)

    def f(self, name):
        return os.path.join(self.dir, name)

    def test_round_trip_with_client_cert(self):
        try:
            l = ipc.listen("tls+tcp://127.0.0.1:0", tls_cert=self.f("server.pem"),
                           tls_key=self.f("server.key"), tls_ca=self.f("ca.pem"),
                           tls_require_client_cert=True)
        except OSError as e:
            if e.errno == errno.EPROTONOSUPPORT:
                self.skipTest("libipc was built without tls+tcp://")
            raise
        with l:
            c, s = connect(l, tls_cert=self.f("client.pem"), tls_key=self.f("client.key"),
                           tls_ca=self.f("ca.pem"), tls_server_name="localhost")
            with c, s:
                self.assertEqual(c.sendv([b"hel", b"lo"], WAIT), 5)
                self.assertEqual(s.recv(WAIT), b"hello")
                self.assertEqual(s.send_batch([b"a", b"b"], WAIT), 2)
                got2 = []
                while len(got2) < 2:
                    got2 += c.recv_batch(2 - len(got2), WAIT)
                self.assertEqual(got2, [b"a", b"b"])
                subject, sha = s.peer_cert()
                self.assertIn("CN=client", subject)
                self.assertIsInstance(sha, bytes)
                self.assertEqual(len(sha), 32)
                subject, sha = c.peer_cert()
                self.assertIsInstance(subject, str)
                self.assertEqual(len(sha), 32)

    def test_untrusted_server_is_refused(self):
        try:
            l = ipc.listen("tls+tcp://127.0.0.1:0", tls_cert=self.f("rogue.pem"),
                           tls_key=self.f("rogue.key"))
        except OSError as e:
            if e.errno == errno.EPROTONOSUPPORT:
                self.skipTest("libipc was built without tls+tcp://")
            raise
        with l:
            t = threading.Thread(target=lambda: self.swallow(l))
            t.start()
            with self.assertRaises(OSError):
                ipc.open(l.addr, open_timeout=WAIT, tls_ca=self.f("ca.pem"))
            l.shutdown()
            t.join(WAIT)

    @staticmethod
    def swallow(l):
        try:
            l.accept(WAIT).close()
        except (OSError, EOFError):
            pass


if __name__ == "__main__":
    unittest.main(verbosity=2)
