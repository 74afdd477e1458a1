/* ipc.SendLoan and ipc.RecvLoan: zero-copy loans (ipc_send_reserve(3)) as
 * buffer-exporting objects. Python code reaches the ring only through a
 * buffer of the loan, and the loan ends (commit, abort, release, close)
 * only when no such buffer is alive: the memoryview a with-block hands out
 * is released at its end, any other one makes the end fail with
 * BufferError and the loan stays out until the last one goes. So no view
 * can read or write ring memory after the library has taken it back. */
#include "ipcpy.h"

#include <errno.h>

typedef struct {
	PyObject_HEAD
	ipcpy_Channel *chan;     /* held: it cannot be freed under the loan */
	void          *buf;      /* the ring's bytes; NULL once the loan ended */
	Py_ssize_t     len;      /* reserved, or the message's length */
	unsigned       gen;      /* the fork generation it was made in */
	Py_ssize_t     exports;  /* buffers of it alive */
	PyObject      *view;     /* weak reference to __enter__'s memoryview, or NULL */
	PyObject      *weakrefs;
} ipcpy_Loan;

#define IS_SEND(self) (Py_TYPE(self) == &ipcpy_SendLoanType)

enum { END_COMMIT, END_ABORT, END_RELEASE };

/* Out: not ended, the channel open, and in the process that took it (a
 * forked child does not inherit the parent's loans). */
static int
loan_out(const ipcpy_Loan *self)
{
	return self->buf && self->chan->ch && self->gen == ipcpy_fork_generation();
}

static PyObject *
ended_error(void)
{
	PyErr_SetString(PyExc_ValueError, "the loan has ended");
	return NULL;
}

static ipcpy_Loan *
loan_new(PyTypeObject *type, ipcpy_Channel *chan)
{
	ipcpy_Loan *self = PyObject_New(ipcpy_Loan, type);

	if (!self)
		return NULL;
	Py_INCREF(chan);
	self->chan = chan;
	self->buf = NULL;
	self->len = 0;
	self->gen = ipcpy_fork_generation();
	self->exports = 0;
	self->view = NULL;
	self->weakrefs = NULL;
	return self;
}

/* Release the memoryview __enter__ handed out, if it is still alive. A
 * view that cannot be released (something holds a buffer of it) stays
 * counted in exports. */
static void
drop_view(ipcpy_Loan *self)
{
	PyObject *mv, *r;

	if (!self->view)
		return;
#if PY_VERSION_HEX >= 0x030d0000
	if (PyWeakref_GetRef(self->view, &mv) < 0)
		PyErr_Clear();
#else
	mv = PyWeakref_GetObject(self->view);
	if (mv == Py_None)
		mv = NULL;
	Py_XINCREF(mv);
#endif
	Py_CLEAR(self->view);
	if (!mv)
		return;
	r = PyObject_CallMethod(mv, "release", NULL);
	Py_DECREF(mv);
	if (r)
		Py_DECREF(r);
	else
		PyErr_Clear();          /* the exports check below answers */
}

/* End the loan by @p op: 0 when it ended (abort and release: or had ended
 * already), -1 with an exception when it is still out, or it ended on
 * the library's -EPROTO. @p commit_or_abort: a commit the library refuses
 * gives the room back, so that a with-block never leaves a loan out. */
static int
loan_end(ipcpy_Loan *self, int op, size_t n, int commit_or_abort)
{
	struct ipcpy_lock *lock = op == END_RELEASE ? &self->chan->recv_lock : &self->chan->send_lock;
	struct ipcpy_wait w;
	int rc;

	if (!loan_out(self)) {
		drop_view(self);
		if (op != END_COMMIT)
			return 0;
		if (!self->chan->ch)
			ipcpy_channel_closed();
		else
			ended_error();
		return -1;
	}
	/* The loan calls count as calls of their direction (libipc(7)). They
	 * never block; the lock may, for another thread's call. From here on
	 * the GIL is held throughout: no buffer can appear meanwhile. */
	ipcpy_wait_init(&w, Py_None);
	if (ipcpy_lock_acquire(lock, &w) < 0)
		return -1;
	if (!loan_out(self)) {      /* another thread ended it meanwhile */
		ipcpy_lock_release(lock);
		return loan_end(self, op, n, 0);
	}
	drop_view(self);
	if (self->exports) {
		ipcpy_lock_release(lock);
		PyErr_Format(PyExc_BufferError,
		             "cannot end the loan while %zd buffer%s of it alive (a memoryview kept "
		             "past the block, or made from its view): the loan stays out until then",
		             self->exports, self->exports == 1 ? " is" : "s are");
		return -1;
	}
	if (op == END_COMMIT) {
		rc = ipc_send_commit(self->chan->ch, self->buf, n);
		if (rc == 0 || rc == -EPROTO)           /* -EPROTO gave it back */
			self->buf = NULL;
		else if (commit_or_abort && ipc_send_abort(self->chan->ch, self->buf) == 0)
			self->buf = NULL;
	} else if (op == END_ABORT) {
		rc = ipc_send_abort(self->chan->ch, self->buf);
		self->buf = NULL;
	} else {
		rc = ipc_recv_release(self->chan->ch, self->buf);
		self->buf = NULL;
	}
	ipcpy_lock_release(lock);
	if (rc < 0) {
		ipcpy_error(rc, NULL);
		return -1;
	}
	return 0;
}

static int
loan_getbuffer(ipcpy_Loan *self, Py_buffer *view, int flags)
{
	if (!loan_out(self)) {
		if (!self->chan->ch)
			ipcpy_channel_closed();
		else
			ended_error();
		view->obj = NULL;
		return -1;
	}
	if (PyBuffer_FillInfo(view, (PyObject *)self, self->buf, self->len, !IS_SEND(self),
	                      flags) < 0)
		return -1;
	self->exports++;
	self->chan->loan_exports++;
	return 0;
}

static void
loan_releasebuffer(ipcpy_Loan *self, Py_buffer *view)
{
	self->exports--;
	self->chan->loan_exports--;
}

static PyBufferProcs loan_as_buffer = {
	.bf_getbuffer = (getbufferproc)loan_getbuffer,
	.bf_releasebuffer = (releasebufferproc)loan_releasebuffer,
};

/* The with-block's memoryview: one per loan, released when the block ends. */
static PyObject *
loan_enter(ipcpy_Loan *self, PyObject *unused)
{
	PyObject *mv = NULL;

	if (self->view) {
#if PY_VERSION_HEX >= 0x030d0000
		if (PyWeakref_GetRef(self->view, &mv) < 0)
			return NULL;
#else
		mv = PyWeakref_GetObject(self->view);
		mv = mv == Py_None ? NULL : (Py_INCREF(mv), mv);
#endif
		if (mv)
			return mv;
		Py_CLEAR(self->view);
	}
	if (!(mv = PyMemoryView_FromObject((PyObject *)self)))
		return NULL;
	if (!(self->view = PyWeakref_NewRef(mv, NULL))) {
		Py_DECREF(mv);
		return NULL;
	}
	return mv;
}

/* Normal end: a send loan is committed whole (unless commit() or abort()
 * ran in the block); an exception: it is aborted. A receive loan is
 * released either way. */
static PyObject *
loan_exit(ipcpy_Loan *self, PyObject *args)
{
	PyObject *type = PyTuple_GET_SIZE(args) > 0 ? PyTuple_GET_ITEM(args, 0) : Py_None;
	int rc;

	if (!IS_SEND(self))
		rc = loan_end(self, END_RELEASE, 0, 0);
	else if (type == Py_None && loan_out(self))
		rc = loan_end(self, END_COMMIT, (size_t)self->len, 1);
	else
		rc = loan_end(self, END_ABORT, 0, 0);
	if (rc < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *
loan_commit(ipcpy_Loan *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = { "n", NULL };
	PyObject *o = Py_None;
	Py_ssize_t n;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:commit", kwlist, &o))
		return NULL;
	n = self->len;
	if (o != Py_None) {
		n = PyLong_AsSsize_t(o);
		if (n == -1 && PyErr_Occurred())
			return NULL;
		if (n < 0 || n > self->len) {
			PyErr_Format(PyExc_ValueError, "commit(n) needs 0 <= n <= %zd (reserved)",
			             self->len);
			return NULL;
		}
	}
	if (loan_end(self, END_COMMIT, (size_t)n, 0) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *
loan_abort(ipcpy_Loan *self, PyObject *unused)
{
	if (loan_end(self, END_ABORT, 0, 0) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *
loan_release(ipcpy_Loan *self, PyObject *unused)
{
	if (loan_end(self, END_RELEASE, 0, 0) < 0)
		return NULL;
	Py_RETURN_NONE;
}

static Py_ssize_t
loan_length(ipcpy_Loan *self)
{
	return self->len;
}

static PyObject *
loan_active(ipcpy_Loan *self, void *unused)
{
	return PyBool_FromLong(loan_out(self));
}

static PyObject *
loan_repr(ipcpy_Loan *self)
{
	return PyUnicode_FromFormat("<%s %zd bytes%s>", Py_TYPE(self)->tp_name, self->len,
	                            loan_out(self) ? "" : " ended");
}

/* A loan nobody can reach any more (no buffer of it is alive either) is
 * given back, as ipc_close would. */
static void
loan_finalize(ipcpy_Loan *self)
{
#if PY_VERSION_HEX >= 0x030c0000
	PyObject *exc = PyErr_GetRaisedException();
#else
	PyObject *t, *v, *tb;

	PyErr_Fetch(&t, &v, &tb);
#endif
	if (loan_out(self) &&
	    loan_end(self, IS_SEND(self) ? END_ABORT : END_RELEASE, 0, 0) < 0)
		PyErr_WriteUnraisable((PyObject *)self);
#if PY_VERSION_HEX >= 0x030c0000
	PyErr_SetRaisedException(exc);
#else
	PyErr_Restore(t, v, tb);
#endif
}

static void
loan_dealloc(ipcpy_Loan *self)
{
	if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0)
		return;                 /* resurrected by the finalizer */
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	Py_XDECREF(self->view);
	Py_DECREF(self->chan);
	PyObject_Free(self);
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
		x->buf = (void *)b;     /* handed out read-only */
	return n;
}

/* Take a loan: the object first, so that nothing can fail once the library
 * has lent the room. A loan that is there at once is taken without
 * dropping the GIL. */
static PyObject *
loan_take(ipcpy_Channel *chan, int send, size_t len, PyObject *timeout)
{
	struct ipcpy_lock *lock = send ? &chan->send_lock : &chan->recv_lock;
	struct loan_ctx x = { .len = len };
	struct ipcpy_wait w;
	ipcpy_Loan *self;
	long long rc;

	if (ipcpy_wait_init(&w, timeout) < 0)
		return NULL;
	if (!chan->ch)
		return ipcpy_channel_closed();
	if (!(self = loan_new(send ? &ipcpy_SendLoanType : &ipcpy_RecvLoanType, chan)))
		return NULL;
	if (ipcpy_channel_lock(chan, lock, &w) < 0) {
		Py_DECREF(self);
		return NULL;
	}
	x.ch = chan->ch;
	rc = ipcpy_run(&w, send ? reserve_call : peek_call, &x, 1);
	if (rc >= 0) {
		self->buf = x.buf;
		self->len = (Py_ssize_t)rc;
	}
	ipcpy_lock_release(lock);
	if (rc < 0) {
		Py_DECREF(self);
		return ipcpy_error(rc, NULL);
	}
	return (PyObject *)self;
}

PyObject *
ipcpy_send_loan(ipcpy_Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *size, *timeout;
	Py_ssize_t n;

	if (ipcpy_parse_args("send_loan", args, nargs, kwnames, 1, &size, &timeout) < 0)
		return NULL;
	n = PyNumber_AsSsize_t(size, PyExc_OverflowError);
	if (n == -1 && PyErr_Occurred())
		return NULL;
	if (n < 0) {
		PyErr_SetString(PyExc_ValueError, "send_loan() needs size >= 0");
		return NULL;
	}
	return loan_take(self, 1, (size_t)n, timeout);
}

PyObject *
ipcpy_recv_loan(ipcpy_Channel *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
	PyObject *timeout;

	if (ipcpy_parse_args("recv_loan", args, nargs, kwnames, 0, NULL, &timeout) < 0)
		return NULL;
	return loan_take(self, 0, 0, timeout);
}

static PySequenceMethods loan_as_sequence = {
	.sq_length = (lenfunc)loan_length,
};

static PyGetSetDef loan_getset[] = {
	{ "active", (getter)loan_active, NULL, "True while the loan is out.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PyMethodDef send_loan_methods[] = {
	{ "commit", (PyCFunction)(void (*)(void))loan_commit, METH_VARARGS | METH_KEYWORDS,
	  "commit(n=None)\n\nSend the first n bytes (default: all reserved) as one message." },
	{ "abort", (PyCFunction)loan_abort, METH_NOARGS,
	  "abort()\n\nGive the room back unsent (nothing if the loan has ended)." },
	{ "__enter__", (PyCFunction)loan_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)loan_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyMethodDef recv_loan_methods[] = {
	{ "release", (PyCFunction)loan_release, METH_NOARGS,
	  "release()\n\nGive the message back to the ring (nothing if the loan has ended)." },
	{ "__enter__", (PyCFunction)loan_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)loan_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

/* The two kinds differ only in their name, methods and doc. */
#define LOAN_TYPE(name, methods, doc) {                         \
	PyVarObject_HEAD_INIT(NULL, 0)                              \
	.tp_name = name,                                            \
	.tp_basicsize = sizeof(ipcpy_Loan),                         \
	.tp_dealloc = (destructor)loan_dealloc,                     \
	.tp_finalize = (destructor)loan_finalize,                   \
	.tp_repr = (reprfunc)loan_repr,                             \
	.tp_as_sequence = &loan_as_sequence,                        \
	.tp_as_buffer = &loan_as_buffer,                            \
	.tp_flags = Py_TPFLAGS_DEFAULT,                             \
	.tp_doc = doc,                                              \
	.tp_weaklistoffset = offsetof(ipcpy_Loan, weakrefs),        \
	.tp_methods = methods,                                      \
	.tp_getset = loan_getset,                                   \
}

PyTypeObject ipcpy_SendLoanType = LOAN_TYPE("ipc.SendLoan", send_loan_methods,
	"Room for one message in an shm ring, from Channel.send_loan(): a writable "
	"buffer until commit() or abort().");

PyTypeObject ipcpy_RecvLoanType = LOAN_TYPE("ipc.RecvLoan", recv_loan_methods,
	"One received message where it lies in an shm ring, from Channel.recv_loan(): "
	"a read-only buffer until release().");
