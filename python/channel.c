/* ipc.Channel: one libipc channel. send() and recv() may run at the same time
 * in two threads, as the C rules allow; two senders (or two receivers) are
 * serialized by the channel's own locks; close() waits for both. */
#include "ipcpy.h"

#include <errno.h>
#include <limits.h>
#include <sys/uio.h>
#include <structmember.h>

#define RAW_RECV_DEFAULT 65536  /* recv() on a raw channel reads up to this */
#define NOGIL_COPY 65536        /* copies this large run without the GIL */

PyObject *
ipcpy_channel_closed(void)
{
	PyErr_SetString(PyExc_ValueError, "I/O operation on closed channel");
	return NULL;
}

int
ipcpy_channel_lock(ipcpy_Channel *self, struct ipcpy_lock *l, struct ipcpy_wait *w)
{
	if (ipcpy_lock_acquire(l, w) < 0)
		return -1;
	if (self->ch)
		return 0;
	ipcpy_lock_release(l);
	ipcpy_channel_closed();
	return -1;
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
	self->fd.fd = -1;
	self->fd.gen = 0;
	self->weakrefs = NULL;
	self->loan_exports = 0;
	self->send_lock.wake = self->recv_lock.wake = NULL;
	Py_XINCREF(name);
	self->name = name;
	if (ipcpy_lock_init(&self->send_lock) < 0 || ipcpy_lock_init(&self->recv_lock) < 0) {
		Py_DECREF(self);
		return NULL;
	}
	return (PyObject *)self;
}

int
ipcpy_parse_args(const char *fn, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
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

/* send (@p into 0) and recv_into (1, a writable buffer): the caller's
 * memory as it is (the library's copy is the only one), one library call
 * under that direction's lock. */
static PyObject *
buffer_call(ipcpy_Channel *self, const char *fn, PyObject *const *args, Py_ssize_t nargs,
            PyObject *kwnames, int into)
{
	struct ipcpy_lock *lock = into ? &self->recv_lock : &self->send_lock;
	PyObject *data, *timeout;
	struct ipcpy_wait w;
	struct io_ctx x;
	Py_buffer view;
	long long rc;

	if (ipcpy_parse_args(fn, args, nargs, kwnames, 1, &data, &timeout) < 0 ||
	    ipcpy_wait_init(&w, timeout) < 0)
		return NULL;
	if (!self->ch)
		return ipcpy_channel_closed();
	if (PyObject_GetBuffer(data, &view, into ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0)
		return NULL;
	if (ipcpy_channel_lock(self, lock, &w) < 0) {
		PyBuffer_Release(&view);
		return NULL;
	}
	x.ch = self->ch;
	x.buf = view.buf;
	x.len = (size_t)view.len;
	/* A small message that fits now goes out without dropping the GIL:
	 * that costs more than the send itself. */
	rc = ipcpy_run(&w, into ? recv_call : send_call, &x, !into && x.len < NOGIL_COPY);
	ipcpy_lock_release(lock);
	PyBuffer_Release(&view);
	if (rc < 0)
		return ipcpy_error(rc, NULL);
	return PyLong_FromLongLong(rc);
}

static PyObject *
channel_send(ipcpy_Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	return buffer_call(self, "send", args, nargs, kwnames, 0);
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

	if (ipcpy_parse_args("recv", args, nargs, kwnames, 0, NULL, &timeout) < 0 ||
	    ipcpy_wait_init(&w, timeout) < 0)
		return NULL;
	if (!self->ch)
		return ipcpy_channel_closed();
	if (ipcpy_channel_lock(self, &self->recv_lock, &w) < 0)
		return NULL;
	if (self->flags & IPC_RAW)
		res = recv_raw(self, &w);
	else
		res = recv_framed(self, &w);
	ipcpy_lock_release(&self->recv_lock);
	return res;
}

static PyObject *
channel_recv_into(ipcpy_Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	return buffer_call(self, "recv_into", args, nargs, kwnames, 1);
}

/* ipc_fd() may create the descriptor (shm's wake-up set) on its first call
 * in a process, so that call is serialized with the receivers; the answer
 * is kept for this process (a forked child asks again). */
static int
ask_fd(PyObject *o)
{
	ipcpy_Channel *self = (ipcpy_Channel *)o;

	if (!self->ch) {
		ipcpy_channel_closed();
		return IPCPY_PYERR;
	}
	return ipc_fd(self->ch);
}

static PyObject *
channel_fileno(ipcpy_Channel *self, PyObject *unused)
{
	if (!self->ch)
		return ipcpy_channel_closed();
	return ipcpy_fileno((PyObject *)self, &self->fd, &self->recv_lock, ask_fd);
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

	if (ipcpy_parse_args("flush", args, nargs, kwnames, 0, NULL, &timeout) < 0 ||
	    ipcpy_wait_init(&w, timeout) < 0)
		return NULL;
	if (!self->ch)
		return ipcpy_channel_closed();
	if (ipcpy_channel_lock(self, &self->send_lock, &w) < 0)
		return NULL;
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
		return ipcpy_channel_closed();
	ipc_shutdown(self->ch);
	Py_RETURN_NONE;
}

/* The ring a loan's memoryview points into stays mapped while one is alive. */
static PyObject *
loans_exported(void)
{
	PyErr_SetString(PyExc_BufferError,
	                "cannot close a channel while a memoryview of its loan is alive");
	return NULL;
}

static PyObject *
channel_close(ipcpy_Channel *self, PyObject *unused)
{
	struct ipcpy_wait w;
	ipc_channel *ch;
	int busy, rc;

	if (!self->ch)
		Py_RETURN_NONE;
	if (self->loan_exports)
		return loans_exported();
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
	/* A memoryview of a loan made while we waited for the locks: no close
	 * (the channel may be shut down by now, but it stays mapped). */
	if (self->loan_exports) {
		ipcpy_lock_release(&self->recv_lock);
		ipcpy_lock_release(&self->send_lock);
		return loans_exported();
	}
	/* ipc_close gives back the loans still out (none has a view left). */
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
		return ipcpy_channel_closed();
	rc = ipc_peer_cred(self->ch, &p);
	if (rc < 0)
		return ipcpy_error(rc, NULL);
	return Py_BuildValue("(lkk)", (long)p.pid, (unsigned long)p.uid, (unsigned long)p.gid);
}

/* sendv/send_batch/recv_batch: the caller's pieces as iovecs, each held by a
 * Py_buffer view until the call is over (no copies of ours). */
struct vec_ctx {
	ipc_channel  *ch;
	struct iovec *iov;
	size_t        n;
};

static long long
sendv_call(void *c, int ms)
{
	struct vec_ctx *x = c;

	return ipc_sendv(x->ch, x->iov, (int)x->n, ms);
}

static long long
send_batch_call(void *c, int ms)
{
	struct vec_ctx *x = c;

	return ipc_send_batch(x->ch, x->iov, x->n, ms);
}

static long long
recv_batch_call(void *c, int ms)
{
	struct vec_ctx *x = c;

	return ipc_recv_batch(x->ch, x->iov, x->n, ms);
}

struct views {
	Py_buffer    *v;
	struct iovec *iov;
	Py_ssize_t    n;
};

static void
views_release(struct views *vs, Py_ssize_t got)
{
	Py_ssize_t i;

	for (i = 0; i < got; i++)
		PyBuffer_Release(&vs->v[i]);
	PyMem_Free(vs->v);
	PyMem_Free(vs->iov);
}

/* A sequence of bytes-like objects into read-only views and iovecs. */
static int
views_get(PyObject *seq, struct views *vs)
{
	PyObject *fast = PySequence_Fast(seq, "a sequence of bytes-like objects is required");
	Py_ssize_t i, n;

	if (!fast)
		return -1;
	n = PySequence_Fast_GET_SIZE(fast);
	vs->n = n;
	vs->v = PyMem_Calloc((size_t)n + 1, sizeof(*vs->v));
	vs->iov = PyMem_Calloc((size_t)n + 1, sizeof(*vs->iov));
	if (!vs->v || !vs->iov) {
		Py_DECREF(fast);
		views_release(vs, 0);
		PyErr_NoMemory();
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(fast, i), &vs->v[i], PyBUF_SIMPLE) < 0) {
			Py_DECREF(fast);
			views_release(vs, i);
			return -1;
		}
		vs->iov[i].iov_base = vs->v[i].buf;
		vs->iov[i].iov_len = (size_t)vs->v[i].len;
	}
	Py_DECREF(fast);
	return 0;
}

static PyObject *
send_vectored(ipcpy_Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
              const char *fn, ipcpy_call_fn call)
{
	PyObject *seq, *timeout;
	struct ipcpy_wait w;
	struct vec_ctx x;
	struct views vs;
	long long rc;

	if (ipcpy_parse_args(fn, args, nargs, kwnames, 1, &seq, &timeout) < 0 ||
	    ipcpy_wait_init(&w, timeout) < 0)
		return NULL;
	if (!self->ch)
		return ipcpy_channel_closed();
	if (views_get(seq, &vs) < 0)
		return NULL;
	if (call == sendv_call && vs.n > INT_MAX) {
		views_release(&vs, vs.n);
		PyErr_SetString(PyExc_OverflowError, "too many pieces");
		return NULL;
	}
	if (ipcpy_channel_lock(self, &self->send_lock, &w) < 0) {
		views_release(&vs, vs.n);
		return NULL;
	}
	x.ch = self->ch;
	x.iov = vs.iov;
	x.n = (size_t)vs.n;
	rc = ipcpy_run(&w, call, &x, 1);
	ipcpy_lock_release(&self->send_lock);
	views_release(&vs, vs.n);
	if (rc < 0)
		return ipcpy_error(rc, NULL);
	return PyLong_FromLongLong(rc);
}

static PyObject *
channel_sendv(ipcpy_Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	return send_vectored(self, args, nargs, kwnames, "sendv", sendv_call);
}

static PyObject *
channel_send_batch(ipcpy_Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	return send_vectored(self, args, nargs, kwnames, "send_batch", send_batch_call);
}

/* recv_batch(n, timeout=None, max_size=65536): n bytes objects of max_size
 * each are the buffers; each is cut to its message's length. */
static PyObject *
channel_recv_batch(ipcpy_Channel *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = { "n", "timeout", "max_size", NULL };
	Py_ssize_t n, max_size = RAW_RECV_DEFAULT, i;
	PyObject *timeout = Py_None, *list = NULL;
	struct iovec *iov = NULL;
	struct ipcpy_wait w;
	struct vec_ctx x;
	long long rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n|O$n:recv_batch", kwlist, &n, &timeout,
	                                 &max_size) ||
	    ipcpy_wait_init(&w, timeout) < 0)
		return NULL;
	if (n < 1 || max_size < 0) {
		PyErr_SetString(PyExc_ValueError, "recv_batch() needs n >= 1 and max_size >= 0");
		return NULL;
	}
	if (!self->ch)
		return ipcpy_channel_closed();
	if (!(list = PyList_New(n)))
		return NULL;
	if (!(iov = PyMem_Calloc((size_t)n, sizeof(*iov))))
		goto nomem;
	for (i = 0; i < n; i++) {
		PyObject *b = PyBytes_FromStringAndSize(NULL, max_size);

		if (!b)
			goto fail;
		PyList_SET_ITEM(list, i, b);
		iov[i].iov_base = PyBytes_AS_STRING(b);
		iov[i].iov_len = (size_t)max_size;
	}
	if (ipcpy_channel_lock(self, &self->recv_lock, &w) < 0)
		goto fail;
	x.ch = self->ch;
	x.iov = iov;
	x.n = (size_t)n;
	rc = ipcpy_run(&w, recv_batch_call, &x, 1);
	ipcpy_lock_release(&self->recv_lock);
	if (rc < 0) {
		ipcpy_error(rc, NULL);
		goto fail;
	}
	/* Cut each to its length; the unused tail of the list goes. */
	for (i = 0; i < (Py_ssize_t)rc; i++) {
		PyObject *b = PyList_GET_ITEM(list, i);

		if ((Py_ssize_t)iov[i].iov_len < max_size) {
			PyList_SET_ITEM(list, i, NULL);
			if (_PyBytes_Resize(&b, (Py_ssize_t)iov[i].iov_len) < 0)
				goto fail;
			PyList_SET_ITEM(list, i, b);
		}
	}
	if (PyList_SetSlice(list, (Py_ssize_t)rc, n, NULL) < 0)
		goto fail;
	PyMem_Free(iov);
	return list;
nomem:
	PyErr_NoMemory();
fail:
	PyMem_Free(iov);
	Py_DECREF(list);
	return NULL;
}

/* (subject, sha256) of the TLS peer's certificate; None when the peer sent
 * none. The subject's length is asked first: it has no fixed bound. */
static PyObject *
channel_peer_cert(ipcpy_Channel *self, PyObject *unused)
{
	unsigned char sha[32];
	PyObject *subj, *res;
	char *buf;
	int len, rc;

	if (!self->ch)
		return ipcpy_channel_closed();
	len = ipc_peer_cert(self->ch, NULL, 0, NULL);
	if (len == -ENOTCONN)
		Py_RETURN_NONE;
	if (len < 0)
		return ipcpy_error(len, NULL);
	if (!(buf = PyMem_Malloc((size_t)len + 1)))
		return PyErr_NoMemory();
	rc = ipc_peer_cert(self->ch, buf, (size_t)len + 1, sha);
	if (rc < 0) {
		PyMem_Free(buf);
		return ipcpy_error(rc, NULL);
	}
	subj = PyUnicode_DecodeUTF8(buf, rc, "replace");
	PyMem_Free(buf);
	if (!subj)
		return NULL;
	res = Py_BuildValue("(Ny#)", subj, (const char *)sha, (Py_ssize_t)sizeof(sha));
	return res;
}

static PyObject *
channel_exit(ipcpy_Channel *self, PyObject *args)
{
	return channel_close(self, NULL);
}

/* recv_async/send_async live in ipc/asyncio.py: coroutines are Python's. */
static PyObject *
channel_recv_async(PyObject *self, PyObject *args, PyObject *kwargs)
{
	return ipcpy_call_asyncio("recv", self, args, kwargs);
}

static PyObject *
channel_send_async(PyObject *self, PyObject *args, PyObject *kwargs)
{
	return ipcpy_call_asyncio("send", self, args, kwargs);
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
	{ "sendv", (PyCFunction)(void (*)(void))channel_sendv, METH_FASTCALL | METH_KEYWORDS,
	  "sendv(pieces, timeout=None) -> int\n\nSend one message gathered from a sequence of bytes-like objects." },
	{ "send_batch", (PyCFunction)(void (*)(void))channel_send_batch, METH_FASTCALL | METH_KEYWORDS,
	  "send_batch(messages, timeout=None) -> int\n\nSend each bytes-like object as one message; how many went." },
	{ "recv_batch", (PyCFunction)(void (*)(void))channel_recv_batch, METH_VARARGS | METH_KEYWORDS,
	  "recv_batch(n, timeout=None, *, max_size=65536) -> list\n\nUp to n messages, waiting only for the first." },
	{ "peer_cert", (PyCFunction)channel_peer_cert, METH_NOARGS,
	  "peer_cert() -> (subject, sha256) or None\n\nThe TLS peer's certificate (tls+tcp://)." },
	{ "recv_into", (PyCFunction)(void (*)(void))channel_recv_into, METH_FASTCALL | METH_KEYWORDS,
	  "recv_into(buffer, timeout=None) -> int\n\nReceive one message into a writable buffer." },
	{ "send_loan", (PyCFunction)(void (*)(void))ipcpy_send_loan, METH_FASTCALL | METH_KEYWORDS,
	  "send_loan(size, timeout=None) -> SendLoan\n\nReserve size bytes in the ring (shm): a message "
	  "built in place, sent by commit() or at the end of a with-block." },
	{ "recv_loan", (PyCFunction)(void (*)(void))ipcpy_recv_loan, METH_FASTCALL | METH_KEYWORDS,
	  "recv_loan(timeout=None) -> RecvLoan\n\nThe next message where it lies in the ring (shm), "
	  "read-only until release() or the end of a with-block." },
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
	{ "__enter__", (PyCFunction)ipcpy_enter, METH_NOARGS, NULL },
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
