"""asyncio support for ipc channels and listeners, on loop.add_reader().

A channel's descriptor is edge-style (see ipc_fd(3)): when it fires, receive
with timeout 0 until BlockingIOError, which re-arms it. Every coroutine here
therefore first tries the call with timeout 0 and only waits for the
descriptor after BlockingIOError, so a message already in the library's
read-ahead buffer is never left waiting for an edge that will not come.

    async def echo(ch):
        while True:
            msg = await ch.recv_async()
            await ch.send_async(msg)
"""
import asyncio

__all__ = ["recv", "send", "accept"]


async def _when_readable(fd, attempt, timeout):
    """Call attempt() each time fd is readable until it stops raising
    BlockingIOError; return its result."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def ready():
        if fut.done():
            return
        try:
            fut.set_result(attempt())
        except BlockingIOError:
            pass                    # drained: re-armed, wait for the next edge
        except BaseException as e:  # EOFError, ConnectionResetError ...
            fut.set_exception(e)

    loop.add_reader(fd, ready)
    try:
        # The edge may have come between the first attempt and add_reader.
        ready()
        if timeout is None:
            return await fut
        return await asyncio.wait_for(fut, timeout)
    finally:
        loop.remove_reader(fd)


async def recv(ch, timeout=None):
    """One message from ch, without blocking the event loop."""
    try:
        return ch.recv(0)
    except BlockingIOError:
        pass
    return await _when_readable(ch.fileno(), lambda: ch.recv(0), timeout)


async def send(ch, data, timeout=None):
    """Send one message. A send that cannot go out at once (the peer's
    buffer or ring is full) waits in the loop's default executor: not every
    transport's descriptor can tell writability, and one sending thread
    beside a receiving one is what the C rules allow."""
    try:
        return ch.send(data, 0)
    except BlockingIOError:
        pass
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, ch.send, data, timeout)


async def accept(listener, timeout=None):
    """The next peer of a Listener, without blocking the event loop."""
    try:
        return listener.accept(0)
    except BlockingIOError:
        pass
    return await _when_readable(listener.fileno(), lambda: listener.accept(0), timeout)
