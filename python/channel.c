/* ipc.Channel: one libipc channel. send() and recv() may run at the same time
 * in two threads, as the C rules allow; two senders (or two receivers) are
 * serialized by the channel's own locks; close() waits for both. */
#include "ipcpy.h"

#include <errno.h>
#include <structmember.h>

#define RAW_RECV_DEFAULT 65536  /* recv() on a raw channel reads up to this */
#define NOGIL_COPY 65536        /* copies this large run without the GIL */

static PyObject *
closed_error(void)
{
	PyErr_SetString(PyExc_ValueError, "I/O operation on closed channel");
	return NULL;
}

PyObject *
ipcpy_channel_wrap(ipc_channel *ch, int flags, PyObject *name)
{
	ipcpy_Channel *self = PyObject_New(ipcpy_Channel, &ipcpy_ChannelType);

	if (!self) {
		ipc_close(ch);
		return NULL;
	}
	self->ch = ch;
	self->flags = flags;
	self->fd = -1;
	self->fd_gen = 0;
	self->weakrefs = NULL;
	self->send_lock.wake = self->recv_lock.wake = NULL;
	Py_XINCREF(name);
	self->name = name;
	if (ipcpy_lock_init(&self->send_lock) < 0 || ipcpy_lock_init(&self->recv_lock) < 0) {
		Py_DECREF(self);
		return NULL;
	}
	return (PyObject *)self;
}

/* Parse (positional..., timeout=None) for the vectorcall methods: @p npos
 * required positionals, then timeout positionally or by keyword. */
static int
parse_args(const char *fn, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
           Py_ssize_t npos, PyObject **pos, PyObject **timeout)
{
	Py_ssize_t i, nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;

	*timeout = Py_None;
	if (nargs > npos + 1) {
		PyErr_Format(PyExc_TypeError, "%s() takes at most %zd positional arguments (%zd given)",
		             fn, npos + 1, nargs);
		return -1;
	}
	if (nargs < npos) {
		PyErr_Format(PyExc_TypeError, "%s() takes %zd positional argument%s (%zd given)",
		             fn, npos, npos == 1 ? "" : "s", nargs);
		return -1;
	}
	for (i = 0; i < npos; i++)
		pos[i] = args[i];
	if (nargs > npos)
		*timeout = args[npos];
	for (i = 0; i < nkw; i++) {
		PyObject *k = PyTuple_GET_ITEM(kwnames, i);

		if (nargs > npos || PyUnicode_CompareWithASCIIString(k, "timeout") != 0) {
			PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R", fn, k);
			return -1;
		}
		*timeout = args[nargs + i];
	}
	return 0;
}

struct io_ctx {
	ipc_channel *ch;
	void        *buf;
	size_t       len;
};

static long long
send_call(void *c, int ms)
{
	struct io_ctx *x = c;

	return ipc_send(x->ch, x->buf, x->len, ms);
}

static long long
recv_call(void *c, int ms)
{
	struct io_ctx *x = c;

	return ipc_recv(x->ch, x->buf, x->len, ms);
}

static long long
recv_size_call(void *c, int ms)
{
	return ipc_recv_size(c, ms);
}

static PyObject *
channel_send(ipcpy_Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *data, *timeout;
	struct ipcpy_wait w;
	struct io_ctx x;
	Py_buffer view;
	long long rc;

	if (parse_args("send", args, nargs, kwnames, 1, &data, &timeout) < 0 ||
	    ipcpy_wait_init(&w, timeout) < 0)
		return NULL;
	if (!self->ch)
		return closed_error();
	/* The caller's memory as it is: the library's copy is the only one. */
	if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
		return NULL;
	if (ipcpy_lock_acquire(&self->send_lock, &w) < 0) {
		PyBuffer_Release(&view);
		return NULL;
	}
	if (!self->ch) {
		rc = IPCPY_PYERR;
		closed_error();
	} else {
		x.ch = self->ch;
		x.buf = view.buf;
		x.len = (size_t)view.len;
		/* A small message that fits now goes out without dropping the
		 * GIL: that costs more than the send itself. */
		rc = -EAGAIN;
		if (x.len < NOGIL_COPY)
			rc = ipc_send(x.ch, x.buf, x.len, 0);
		if (rc == -EAGAIN && w.deadline != 0)
			rc = ipcpy_block(&w, send_call, &x);
	}
	ipcpy_lock_release(&self->send_lock);
	PyBuffer_Release(&view);
	if (rc < 0)
		return ipcpy_error(rc, NULL);
	return PyLong_FromLongLong(rc);
}

/* A framed message into a bytes object of its exact size. */
static PyObject *
recv_framed(ipcpy_Channel *self, struct ipcpy_wait *w)
{
	struct io_ctx x = { .ch = self->ch };
	PyObject *b;
	long long n, r;

	for (;;) {
		/* A message already there is taken without dropping the GIL. */
		n = ipc_recv_size(self->ch, 0);
		if (n == -EAGAIN && w->deadline != 0)
			n = ipcpy_block(w, recv_size_call, self->ch);
		if (n < 0)
			return ipcpy_error(n, NULL);
		b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
		if (!b)
			return NULL;
		x.buf = PyBytes_AS_STRING(b);
		x.len = (size_t)n;
		if (n >= NOGIL_COPY) {
			Py_BEGIN_ALLOW_THREADS
			r = ipc_recv(x.ch, x.buf, x.len, 0);
			Py_END_ALLOW_THREADS
		} else {
			r = ipc_recv(x.ch, x.buf, x.len, 0);
		}
		if (r == -EAGAIN || r == -EMSGSIZE) {
			/* Another process on this shm side took that message
			 * between the two calls: wait for the next one. */
			Py_DECREF(b);
			continue;
		}
		if (r < 0) {
			Py_DECREF(b);
			return ipcpy_error(r, NULL);
		}
		if (r < n && _PyBytes_Resize(&b, (Py_ssize_t)r) < 0)
			return NULL;
		return b;
	}
}

/* A raw channel: whatever bytes are there, up to RAW_RECV_DEFAULT. */
static PyObject *
recv_raw(ipcpy_Channel *self, struct ipcpy_wait *w)
{
	struct io_ctx x = { .ch = self->ch, .len = RAW_RECV_DEFAULT };
	PyObject *b = PyBytes_FromStringAndSize(NULL, RAW_RECV_DEFAULT);
	long long r;

	if (!b)
		return NULL;
	x.buf = PyBytes_AS_STRING(b);
	r = ipcpy_block(w, recv_call, &x);
	if (r < 0) {
		Py_DECREF(b);
		return ipcpy_error(r, NULL);
	}
	if (_PyBytes_Resize(&b, (Py_ssize_t)r) < 0)
		return NULL;
	return b;
}

static PyObject *
channel_recv(ipcpy_Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *timeout, *res;
	struct ipcpy_wait w;

	if (parse_args("recv", args, nargs, kwnames, 0, NULL, &timeout) < 0 ||
	    ipcpy_wait_init(&w, timeout) < 0)
		return NULL;
	if (!self->ch)
		return closed_error();
	if (ipcpy_lock_acquire(&self->recv_lock, &w) < 0)
		return NULL;
	if (!self->ch)
		res = closed_error();
	else if (self->flags & IPC_RAW)
		res = recv_raw(self, &w);
	else
		res = recv_framed(self, &w);
	ipcpy_lock_release(&self->recv_lock);
	return res;
}

static PyObject *
channel_recv_into(ipcpy_Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *buffer, *timeout;
	struct ipcpy_wait w;
	struct io_ctx x;
	Py_buffer view;
	long long rc;

	if (parse_args("recv_into", args, nargs, kwnames, 1, &buffer, &timeout) < 0 ||
	    ipcpy_wait_init(&w, timeout) < 0)
		return NULL;
	if (!self->ch)
		return closed_error();
	if (PyObject_GetBuffer(buffer, &view, PyBUF_WRITABLE) < 0)
		return NULL;
	if (ipcpy_lock_acquire(&self->recv_lock, &w) < 0) {
		PyBuffer_Release(&view);
		return NULL;
	}
	if (!self->ch) {
		rc = IPCPY_PYERR;
		closed_error();
	} else {
		x.ch = self->ch;
		x.buf = view.buf;
		x.len = (size_t)view.len;
		rc = ipcpy_block(&w, recv_call, &x);
	}
	ipcpy_lock_release(&self->recv_lock);
	PyBuffer_Release(&view);
	if (rc < 0)
		return ipcpy_error(rc, NULL);
	return PyLong_FromLongLong(rc);
}

/* ipc_fd() may create the descriptor (shm's wake-up set) on its first call
 * in a process, so that call is serialized with the receivers; the answer
 * is kept for this process (a forked child asks again). */
static PyObject *
channel_fileno(ipcpy_Channel *self, PyObject *unused)
{
	struct ipcpy_wait w;
	int fd;

	if (!self->ch)
		return closed_error();
	if (self->fd >= 0 && self->fd_gen == ipcpy_fork_generation())
		return PyLong_FromLong(self->fd);
	ipcpy_wait_init(&w, Py_None);
	if (ipcpy_lock_acquire(&self->recv_lock, &w) < 0)
		return NULL;
	if (!self->ch) {
		ipcpy_lock_release(&self->recv_lock);
		return closed_error();
	}
	fd = ipc_fd(self->ch);
	if (fd >= 0) {
		self->fd = fd;
		self->fd_gen = ipcpy_fork_generation();
	}
	ipcpy_lock_release(&self->recv_lock);
	if (fd < 0)
		return ipcpy_error(fd, NULL);
	return PyLong_FromLong(fd);
}

static long long
flush_call(void *c, int ms)
{
	return ipc_flush(c, ms);
}

static PyObject *
channel_flush(ipcpy_Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *timeout;
	struct ipcpy_wait w;
	long long rc;

	if (parse_args("flush", args, nargs, kwnames, 0, NULL, &timeout) < 0 ||
	    ipcpy_wait_init(&w, timeout) < 0)
		return NULL;
	if (!self->ch)
		return closed_error();
	if (ipcpy_lock_acquire(&self->send_lock, &w) < 0)
		return NULL;
	if (!self->ch) {
		ipcpy_lock_release(&self->send_lock);
		return closed_error();
	}
	rc = ipcpy_block(&w, flush_call, self->ch);
	ipcpy_lock_release(&self->send_lock);
	if (rc < 0)
		return ipcpy_error(rc, NULL);
	Py_RETURN_NONE;
}

/* No lock: ipc_shutdown is thread-safe and exists to wake the holders. The
 * GIL keeps close() from freeing the channel under it. */
static PyObject *
channel_shutdown(ipcpy_Channel *self, PyObject *unused)
{
	if (!self->ch)
		return closed_error();
	ipc_shutdown(self->ch);
	Py_RETURN_NONE;
}

static PyObject *
channel_close(ipcpy_Channel *self, PyObject *unused)
{
	struct ipcpy_wait w;
	ipc_channel *ch;
	int busy, rc;

	if (!self->ch)
		Py_RETURN_NONE;
	/* Another thread inside send or recv: wake it (it sees EOFError). A
	 * channel nobody is using is not shut down first, so that a committed
	 * tail still gets its second to go out in ipc_close. */
	busy = self->send_lock.busy || self->recv_lock.busy;
	if (busy)
		ipc_shutdown(self->ch);
	ipcpy_wait_init(&w, Py_None);
	if (ipcpy_lock_acquire(&self->send_lock, &w) < 0)
		return NULL;
	if (ipcpy_lock_acquire(&self->recv_lock, &w) < 0) {
		ipcpy_lock_release(&self->send_lock);
		return NULL;
	}
	ch = self->ch;
	self->ch = NULL;
	ipcpy_lock_release(&self->recv_lock);
	ipcpy_lock_release(&self->send_lock);
	if (!ch)
		Py_RETURN_NONE;
	Py_BEGIN_ALLOW_THREADS
	rc = ipc_close(ch);
	Py_END_ALLOW_THREADS
	if (rc < 0)
		return ipcpy_error(rc, NULL);
	Py_RETURN_NONE;
}

static PyObject *
channel_peer_cred(ipcpy_Channel *self, PyObject *unused)
{
	struct ipc_peer p;
	int rc;

	if (!self->ch)
		return closed_error();
	rc = ipc_peer_cred(self->ch, &p);
	if (rc < 0)
		return ipcpy_error(rc, NULL);
	return Py_BuildValue("(lkk)", (long)p.pid, (unsigned long)p.uid, (unsigned long)p.gid);
}

static PyObject *
channel_enter(PyObject *self, PyObject *unused)
{
	Py_INCREF(self);
	return self;
}

static PyObject *
channel_exit(ipcpy_Channel *self, PyObject *args)
{
	return channel_close(self, NULL);
}

/* recv_async/send_async live in ipc/asyncio.py: coroutines are Python's. */
static PyObject *
call_asyncio(const char *fn, PyObject *self, PyObject *args, PyObject *kwargs)
{
	PyObject *mod, *f, *all, *res = NULL;

	mod = PyImport_ImportModule("ipc.asyncio");
	if (!mod)
		return NULL;
	f = PyObject_GetAttrString(mod, fn);
	Py_DECREF(mod);
	if (!f)
		return NULL;
	all = PyTuple_Pack(1, self);
	if (all)
		Py_SETREF(all, PySequence_Concat(all, args));
	if (all) {
		res = PyObject_Call(f, all, kwargs);
		Py_DECREF(all);
	}
	Py_DECREF(f);
	return res;
}

static PyObject *
channel_recv_async(PyObject *self, PyObject *args, PyObject *kwargs)
{
	return call_asyncio("recv", self, args, kwargs);
}

static PyObject *
channel_send_async(PyObject *self, PyObject *args, PyObject *kwargs)
{
	return call_asyncio("send", self, args, kwargs);
}

static PyObject *
channel_closed(ipcpy_Channel *self, void *unused)
{
	return PyBool_FromLong(self->ch == NULL);
}

static PyObject *
channel_raw(ipcpy_Channel *self, void *unused)
{
	return PyBool_FromLong((self->flags & IPC_RAW) != 0);
}

static PyObject *
channel_repr(ipcpy_Channel *self)
{
	return PyUnicode_FromFormat("<ipc.Channel %R%s>", self->name ? self->name : Py_None,
	                            self->ch ? "" : " closed");
}

static void
channel_dealloc(ipcpy_Channel *self)
{
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	if (self->ch) {
		ipc_channel *ch = self->ch;

		self->ch = NULL;
		Py_BEGIN_ALLOW_THREADS
		ipc_close(ch);
		Py_END_ALLOW_THREADS
	}
	ipcpy_lock_free(&self->send_lock);
	ipcpy_lock_free(&self->recv_lock);
	Py_XDECREF(self->name);
	PyObject_Free(self);
}

static PyMethodDef channel_methods[] = {
	{ "send", (PyCFunction)(void (*)(void))channel_send, METH_FASTCALL | METH_KEYWORDS,
	  "send(data, timeout=None) -> int\n\nSend one message from any bytes-like object." },
	{ "recv", (PyCFunction)(void (*)(void))channel_recv, METH_FASTCALL | METH_KEYWORDS,
	  "recv(timeout=None) -> bytes\n\nReceive one whole message (raw: up to 64 KiB)." },
	{ "recv_into", (PyCFunction)(void (*)(void))channel_recv_into, METH_FASTCALL | METH_KEYWORDS,
	  "recv_into(buffer, timeout=None) -> int\n\nReceive one message into a writable buffer." },
	{ "fileno", (PyCFunction)channel_fileno, METH_NOARGS,
	  "fileno() -> int\n\nThe pollable descriptor (edge-style: drain with timeout 0)." },
	{ "flush", (PyCFunction)(void (*)(void))channel_flush, METH_FASTCALL | METH_KEYWORDS,
	  "flush(timeout=None)\n\nPush out a committed tail an earlier send() left." },
	{ "shutdown", (PyCFunction)channel_shutdown, METH_NOARGS,
	  "shutdown()\n\nWake every blocked call: they and later calls raise EOFError." },
	{ "close", (PyCFunction)channel_close, METH_NOARGS, "close()\n\nClose the channel." },
	{ "peer_cred", (PyCFunction)channel_peer_cred, METH_NOARGS,
	  "peer_cred() -> (pid, uid, gid)\n\nThe peer's credentials (unix)." },
	{ "recv_async", (PyCFunction)(void (*)(void))channel_recv_async, METH_VARARGS | METH_KEYWORDS,
	  "recv_async(timeout=None) -> coroutine\n\nipc.asyncio.recv(self, timeout)." },
	{ "send_async", (PyCFunction)(void (*)(void))channel_send_async, METH_VARARGS | METH_KEYWORDS,
	  "send_async(data, timeout=None) -> coroutine\n\nipc.asyncio.send(self, data, timeout)." },
	{ "__enter__", (PyCFunction)channel_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)channel_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef channel_getset[] = {
	{ "closed", (getter)channel_closed, NULL, "True once close() ran.", NULL },
	{ "raw", (getter)channel_raw, NULL, "True for an IPC_RAW byte stream.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject ipcpy_ChannelType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "ipc.Channel",
	.tp_basicsize = sizeof(ipcpy_Channel),
	.tp_dealloc = (destructor)channel_dealloc,
	.tp_repr = (reprfunc)channel_repr,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A libipc channel, from ipc.open(), ipc.pipe() or Listener.accept().",
	.tp_weaklistoffset = offsetof(ipcpy_Channel, weakrefs),
	.tp_methods = channel_methods,
	.tp_getset = channel_getset,
};
