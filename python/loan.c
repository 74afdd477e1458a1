/* ipc.Loan: a zero-copy loan of a shm ring record (ipc_send_reserve(3)).
 *
 *     with ch.send_loan(n) as mv:      # writable memoryview of n bytes
 *         mv[:] = payload              # committed on a normal exit,
 *                                      # aborted on an exception
 *     with ch.recv_loan() as mv:       # read-only memoryview of the message
 *         use(mv)                      # released on exit
 *
 * The memory is the ring itself, so no view of it may outlive the loan: the
 * loan is the buffer's exporter and counts its exports, and giving it back
 * (or closing the channel) raises BufferError while a view other than the
 * one __enter__ returned is still alive, exactly as mmap.close() does. The
 * loan holds its channel, so the mapping stays while the loan lives. */
#include "ipcpy.h"

#include <errno.h>

typedef struct {
	PyObject_HEAD
	ipcpy_Channel *owner;
	void          *buf;
	Py_ssize_t     len;      /* reserved, or the message's length */
	int            rx;       /* a receive loan: read-only */
	int            out;      /* not given back yet */
	Py_ssize_t     exports;
	PyObject      *view;     /* the memoryview __enter__ returned */
} ipcpy_Loan;

static PyTypeObject ipcpy_LoanType;

static int
loan_getbuffer(ipcpy_Loan *self, Py_buffer *view, int flags)
{
	if (!self->out) {
		PyErr_SetString(PyExc_ValueError, "the loan was given back");
		view->obj = NULL;
		return -1;
	}
	if (PyBuffer_FillInfo(view, (PyObject *)self, self->buf, self->len, self->rx, flags) < 0)
		return -1;
	self->exports++;
	return 0;
}

static void
loan_releasebuffer(ipcpy_Loan *self, Py_buffer *view)
{
	(void)view;
	self->exports--;
}

static PyBufferProcs loan_as_buffer = {
	(getbufferproc)loan_getbuffer,
	(releasebufferproc)loan_releasebuffer,
};

/* Drop our own view; -1 with BufferError while any other view of the
 * ring's memory is alive (the loan then stays out). */
static int
loan_unexport(ipcpy_Loan *self)
{
	if (self->view) {
		PyObject *r = PyObject_CallMethod(self->view, "release", NULL);

		if (!r)
			return -1;      /* a view made from our view is alive */
		Py_DECREF(r);
		Py_CLEAR(self->view);
	}
	if (self->exports > 0) {
		PyErr_SetString(PyExc_BufferError,
		                "the loan's memory is still exported: drop its views first");
		return -1;
	}
	return 0;
}

/* Give the loan back: commit @p len bytes (send; len -1: abort) or release
 * (receive). */
static PyObject *
loan_give_back(ipcpy_Loan *self, Py_ssize_t len)
{
	ipcpy_Channel *c = self->owner;
	struct ipcpy_lock *lk = self->rx ? &c->recv_lock : &c->send_lock;
	struct ipcpy_wait w;
	int rc;

	if (!self->out) {
		PyErr_SetString(PyExc_ValueError, "the loan was given back already");
		return NULL;
	}
	if (loan_unexport(self) < 0)
		return NULL;
	ipcpy_wait_init(&w, Py_None);
	if (ipcpy_lock_acquire(lk, &w) < 0)
		return NULL;
	if (!c->ch) {
		rc = 0;         /* the channel's close gave it back */
	} else if (self->rx) {
		rc = ipc_recv_release(c->ch, self->buf);
	} else if (len < 0) {
		rc = ipc_send_abort(c->ch, self->buf);
	} else {
		rc = ipc_send_commit(c->ch, self->buf, (size_t)len);
	}
	if (rc != -EINVAL || self->rx || len < 0) {
		self->out = 0;  /* given back (or, on -EPROTO, returned unsent) */
		if (c->loan[self->rx] == (PyObject *)self)
			c->loan[self->rx] = NULL;
	}
	ipcpy_lock_release(lk);
	if (rc < 0)
		return ipcpy_error(rc, NULL);
	Py_RETURN_NONE;
}

static PyObject *
loan_commit(ipcpy_Loan *self, PyObject *args)
{
	Py_ssize_t n = -1;

	if (!PyArg_ParseTuple(args, "|n:commit", &n))
		return NULL;
	if (self->rx) {
		PyErr_SetString(PyExc_TypeError, "a receive loan is released, not committed");
		return NULL;
	}
	if (n == -1)
		n = self->len;
	if (n < 0 || n > self->len) {
		PyErr_SetString(PyExc_ValueError, "commit length outside 0..reserved");
		return NULL;
	}
	return loan_give_back(self, n);
}

static PyObject *
loan_abort(ipcpy_Loan *self, PyObject *unused)
{
	(void)unused;
	if (self->rx) {
		PyErr_SetString(PyExc_TypeError, "a receive loan is released, not aborted");
		return NULL;
	}
	return loan_give_back(self, -1);
}

static PyObject *
loan_release(ipcpy_Loan *self, PyObject *unused)
{
	(void)unused;
	if (!self->rx) {
		PyErr_SetString(PyExc_TypeError, "a send loan is committed or aborted");
		return NULL;
	}
	return loan_give_back(self, 0);
}

static PyObject *
loan_enter(ipcpy_Loan *self, PyObject *unused)
{
	(void)unused;
	if (!self->out) {
		PyErr_SetString(PyExc_ValueError, "the loan was given back");
		return NULL;
	}
	if (!self->view && !(self->view = PyMemoryView_FromObject((PyObject *)self)))
		return NULL;
	Py_INCREF(self->view);
	return self->view;
}

/* A normal exit commits the whole reservation (or releases); an exception
 * aborts a send loan. */
static PyObject *
loan_exit(ipcpy_Loan *self, PyObject *args)
{
	PyObject *type = Py_None, *val = Py_None, *tb = Py_None, *r;

	if (!PyArg_UnpackTuple(args, "__exit__", 0, 3, &type, &val, &tb))
		return NULL;
	if (!self->out)
		Py_RETURN_NONE;     /* committed or aborted inside the block */
	r = loan_give_back(self, self->rx ? 0 : type == Py_None ? self->len : -1);
	if (!r)
		return NULL;
	Py_DECREF(r);
	Py_RETURN_FALSE;
}

static PyObject *
loan_get_size(ipcpy_Loan *self, void *unused)
{
	(void)unused;
	return PyLong_FromSsize_t(self->len);
}

static PyObject *
loan_get_out(ipcpy_Loan *self, void *unused)
{
	(void)unused;
	return PyBool_FromLong(self->out);
}

/* Nothing can view the memory any more: give the loan back unsent. */
static void
loan_dealloc(ipcpy_Loan *self)
{
	if (self->out) {
		PyObject *r;

		Py_CLEAR(self->view);
		r = loan_give_back(self, self->rx ? 0 : -1);
		if (!r)
			PyErr_WriteUnraisable((PyObject *)self);
		Py_XDECREF(r);
	}
	Py_XDECREF(self->view);
	if (self->owner && self->owner->loan[self->rx] == (PyObject *)self)
		self->owner->loan[self->rx] = NULL;
	Py_XDECREF(self->owner);
	PyObject_Free(self);
}

/* channel.close(): the library gives loans still out back; first their
 * memory must be unreachable from Python. */
int
ipcpy_loans_detach(ipcpy_Channel *c)
{
	int i;

	for (i = 0; i < 2; i++) {
		ipcpy_Loan *l = (ipcpy_Loan *)c->loan[i];

		if (l && l->out && loan_unexport(l) < 0)
			return -1;
	}
	for (i = 0; i < 2; i++) {
		ipcpy_Loan *l = (ipcpy_Loan *)c->loan[i];

		if (l)
			l->out = 0;
		c->loan[i] = NULL;
	}
	return 0;
}

struct loan_ctx {
	ipc_channel *ch;
	void        *buf;
	size_t       len;
};

static long long
reserve_call(void *c, int ms)
{
	struct loan_ctx *x = c;

	return ipc_send_reserve(x->ch, &x->buf, x->len, ms);
}

static long long
peek_call(void *c, int ms)
{
	struct loan_ctx *x = c;
	const void *b;
	long long n = ipc_recv_peek(x->ch, &b, ms);

	if (n >= 0)
		x->buf = (void *)b;
	return n;
}

static PyObject *
loan_take(ipcpy_Channel *c, int rx, Py_ssize_t size, PyObject *timeout)
{
	struct ipcpy_lock *lk = rx ? &c->recv_lock : &c->send_lock;
	struct loan_ctx x = { .len = (size_t)size };
	struct ipcpy_wait w;
	ipcpy_Loan *l;
	long long n;

	if (ipcpy_wait_init(&w, timeout) < 0)
		return NULL;
	if (!c->ch) {
		PyErr_SetString(PyExc_ValueError, "I/O operation on closed channel");
		return NULL;
	}
	if (ipcpy_lock_acquire(lk, &w) < 0)
		return NULL;
	if (!c->ch) {
		n = -EBADF;
	} else {
		x.ch = c->ch;
		n = (rx ? peek_call : reserve_call)(&x, 0);
		if (n == -EAGAIN && w.deadline != 0)
			n = ipcpy_block(&w, rx ? peek_call : reserve_call, &x);
	}
	if (n < 0) {
		ipcpy_lock_release(lk);
		return ipcpy_error(n, NULL);
	}
	l = PyObject_New(ipcpy_Loan, &ipcpy_LoanType);
	if (!l) {
		if (rx)
			ipc_recv_release(c->ch, x.buf);
		else
			ipc_send_abort(c->ch, x.buf);
		ipcpy_lock_release(lk);
		return NULL;
	}
	Py_INCREF(c);
	l->owner = c;
	l->buf = x.buf;
	l->len = (Py_ssize_t)n;
	l->rx = rx;
	l->out = 1;
	l->exports = 0;
	l->view = NULL;
	c->loan[rx] = (PyObject *)l;
	ipcpy_lock_release(lk);
	return (PyObject *)l;
}

PyObject *
ipcpy_channel_send_loan(ipcpy_Channel *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "size", "timeout", NULL };
	PyObject *timeout = Py_None;
	Py_ssize_t size;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "n|O:send_loan", kwlist, &size, &timeout))
		return NULL;
	if (size < 0) {
		PyErr_SetString(PyExc_ValueError, "size must be >= 0");
		return NULL;
	}
	return loan_take(self, 0, size, timeout);
}

PyObject *
ipcpy_channel_recv_loan(ipcpy_Channel *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "timeout", NULL };
	PyObject *timeout = Py_None;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:recv_loan", kwlist, &timeout))
		return NULL;
	return loan_take(self, 1, 0, timeout);
}

static PyMethodDef loan_methods[] = {
	{ "commit", (PyCFunction)loan_commit, METH_VARARGS,
	  "commit(n=size)\n\nSend the first n bytes of a send loan." },
	{ "abort", (PyCFunction)loan_abort, METH_NOARGS,
	  "abort()\n\nGive a send loan back unsent." },
	{ "release", (PyCFunction)loan_release, METH_NOARGS,
	  "release()\n\nGive a receive loan back." },
	{ "__enter__", (PyCFunction)loan_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)loan_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef loan_getset[] = {
	{ "size", (getter)loan_get_size, NULL, "Reserved bytes, or the message's length.", NULL },
	{ "out", (getter)loan_get_out, NULL, "True until the loan is given back.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyTypeObject ipcpy_LoanType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "ipc.Loan",
	.tp_basicsize = sizeof(ipcpy_Loan),
	.tp_dealloc = (destructor)loan_dealloc,
	.tp_as_buffer = &loan_as_buffer,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A zero-copy loan of a shm ring record, from Channel.send_loan() or "
	          "Channel.recv_loan(); a context manager giving a memoryview.",
	.tp_methods = loan_methods,
	.tp_getset = loan_getset,
};

int
ipcpy_loan_ready(PyObject *m)
{
	if (PyType_Ready(&ipcpy_LoanType) < 0)
		return -1;
	Py_INCREF(&ipcpy_LoanType);
	if (PyModule_AddObject(m, "Loan", (PyObject *)&ipcpy_LoanType) < 0) {
		Py_DECREF(&ipcpy_LoanType);
		return -1;
	}
	return 0;
}
