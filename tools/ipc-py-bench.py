#!/usr/bin/env python3
"""ipc-py-bench: the Python module beside C, in one run, over shm.

  1. 64 B round trip, Python to Python (two processes, one echoes), p50/p99,
     beside ipc-bench's own shm/libipc 64 B row (C to C), run just before;
  2. 1 MiB messages streamed one way, Python to Python, beside the same
     stream between two C processes (ipc-peer source/sink), in MB/s.

Targets (issue 14): Python round trip within 2x of C; 1 MiB at >= 50% of C.

Usage (from a build directory's parent):
  PYTHONPATH=build/python python3 tools/ipc-py-bench.py \\
      --ipc-bench build/tools/ipc-bench --peer build/python/tests/ipc-peer [--quick]
Both processes of a pair are pinned to two different CPUs when there are two,
as ipc-bench does.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import ipc

CAP = 4 << 20
MIB = 1 << 20


def cpus():
    c = sorted(os.sched_getaffinity(0))
    return (c[0], c[1]) if len(c) > 1 else (c[0], c[0])


def pin(cpu):
    os.sched_setaffinity(0, {cpu})


def py_roundtrip(n):
    name = "/ipc-py-bench-rt-%d" % os.getpid()
    parent_cpu, child_cpu = cpus()
    a = ipc.open("shm:" + name, ipc.SEND | ipc.RECV | ipc.CREATE)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            a.close()               # the child's copy: else it holds side A alive
            pin(child_cpu)
            with ipc.open("shm:" + name, open_timeout=10) as b:
                send, recv = b.send, b.recv
                try:
                    while True:
                        send(recv())
                except EOFError:
                    code = 0
        finally:
            os._exit(code)
    pin(parent_cpu)
    msg = b"x" * 64
    send, recv = a.send, a.recv
    for _ in range(min(n, 20000)):     # warm-up
        send(msg)
        recv(10)
    clock = time.perf_counter_ns
    lat = []
    for _ in range(n):
        t = clock()
        send(msg)
        recv(10)
        lat.append(clock() - t)
    a.close()
    os.waitpid(pid, 0)
    lat.sort()
    return lat[len(lat) // 2] / 1000, lat[len(lat) * 99 // 100] / 1000


def py_stream(n):
    name = "/ipc-py-bench-st-%d" % os.getpid()
    parent_cpu, child_cpu = cpus()
    a = ipc.open("shm:" + name, ipc.SEND | ipc.RECV | ipc.CREATE, max_msg=MIB, capacity=CAP)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            a.close()
            pin(child_cpu)
            with ipc.open("shm:" + name, max_msg=MIB, open_timeout=10) as b:
                buf = bytearray(MIB)
                b.send(b"go")
                for _ in range(n):
                    b.recv_into(buf, 10)
                b.send(b"done")
                code = 0
        finally:
            os._exit(code)
    pin(parent_cpu)
    msg = bytes(MIB)
    a.recv(10)
    t = time.perf_counter()
    for _ in range(n):
        a.send(msg, 10)
    a.recv(10)
    dt = time.perf_counter() - t
    a.close()
    os.waitpid(pid, 0)
    return n * MIB / dt / 1e6


def c_stream(peer, n):
    name = "shm:/ipc-py-bench-c-%d" % os.getpid()
    parent_cpu, child_cpu = cpus()
    src = subprocess.Popen([peer, "source", name, "src", str(n), str(MIB)], stdout=subprocess.PIPE,
                           text=True, preexec_fn=lambda: pin(parent_cpu))
    assert src.stdout.readline().strip() == "ready"
    sink = subprocess.Popen([peer, "sink", name, "sr", str(n), str(MIB)], stdout=subprocess.PIPE,
                            text=True, preexec_fn=lambda: pin(child_cpu))
    out, _ = src.communicate(timeout=120)
    sink.communicate(timeout=120)
    if src.returncode or sink.returncode:
        raise RuntimeError("ipc-peer source/sink failed")
    return n * MIB / float(out.split()[-1]) / 1e6


def c_roundtrip(bench, quick):
    cmd = [bench, "--json", "--only", "shm/libipc"] + (["--quick"] if quick else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True).stdout
    for r in json.loads(out)["results"]:
        if r["size"] == 64:
            return r["p50_us"], r["p99_us"]
    raise RuntimeError("no 64 B row in ipc-bench's output")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ipc-bench", default="ipc-bench", help="the ipc-bench program")
    ap.add_argument("--peer", default="ipc-peer", help="ipc-peer (built in build/python/tests)")
    ap.add_argument("--quick", action="store_true", help="fewer samples")
    a = ap.parse_args()
    rt_n, st_n = (20000, 200) if a.quick else (200000, 2000)
    cpu_pair = cpus()

    c50, c99 = c_roundtrip(a.ipc_bench, a.quick)
    p50, p99 = py_roundtrip(rt_n)
    c_rate = c_stream(a.peer, st_n)
    p_rate = py_stream(st_n)
    print("libipc %s, Python %s, shm, CPUs %d/%d" % (ipc.version(), sys.version.split()[0], *cpu_pair))
    print("%-26s %10s %10s %8s" % ("", "C", "Python", "ratio"))
    print("%-26s %10.3f %10.3f %7.2fx  (target <= 2x)" % ("64 B round trip p50 us", c50, p50, p50 / c50))
    print("%-26s %10.3f %10.3f %7.2fx" % ("64 B round trip p99 us", c99, p99, p99 / c99))
    print("%-26s %10.0f %10.0f %7.0f%%  (target >= 50%%)" % ("1 MiB stream MB/s", c_rate, p_rate,
                                                           100 * p_rate / c_rate))


if __name__ == "__main__":
    main()
