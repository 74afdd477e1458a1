/* ipc.SigWatch: signals read from a signalfd instead of a handler. */
#include "ipcpy.h"

#include <errno.h>

static PyStructSequence_Field siginfo_fields[] = {
	{ "signo", "signal number" },
	{ "pid", "sender's pid (0 from the kernel)" },
	{ "uid", "sender's real uid" },
	{ "value", "payload of ipc.notify() / sigqueue(), else 0" },
	{ NULL, NULL },
};

static PyStructSequence_Desc siginfo_desc = {
	"ipc.SigInfo", "One signal read from a SigWatch.", siginfo_fields, 4,
};

PyTypeObject ipcpy_SigInfoType;

int
ipcpy_siginfo_ready(void)
{
	return PyStructSequence_InitType2(&ipcpy_SigInfoType, &siginfo_desc);
}

static PyObject *
closed_error(void)
{
	PyErr_SetString(PyExc_ValueError, "operation on closed SigWatch");
	return NULL;
}

static PyObject *
sigwatch_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = { "signals", NULL };
	PyObject *seq, *fast;
	ipcpy_SigWatch *self;
	int sigs[64];
	Py_ssize_t i, n;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:SigWatch", kwlist, &seq))
		return NULL;
	if (!(fast = PySequence_Fast(seq, "SigWatch() takes a sequence of signal numbers")))
		return NULL;
	n = PySequence_Fast_GET_SIZE(fast);
	if (n < 1 || n > (Py_ssize_t)(sizeof(sigs) / sizeof(sigs[0]))) {
		Py_DECREF(fast);
		PyErr_SetString(PyExc_ValueError, "SigWatch() takes 1 to 64 signals");
		return NULL;
	}
	for (i = 0; i < n; i++) {
		/* signal.Signals is an IntEnum: PyLong_AsLong takes it. */
		long s = PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));

		if (s == -1 && PyErr_Occurred()) {
			Py_DECREF(fast);
			return NULL;
		}
		if (s < 1 || s > 64) {
			Py_DECREF(fast);
			PyErr_Format(PyExc_ValueError, "not a signal number: %ld", s);
			return NULL;
		}
		sigs[i] = (int)s;
	}
	Py_DECREF(fast);
	if (!(self = (ipcpy_SigWatch *)type->tp_alloc(type, 0)))
		return NULL;
	self->closing = 0;
	if (ipcpy_lock_init(&self->lock) < 0) {
		Py_DECREF(self);
		return NULL;
	}
	rc = ipc_sigwatch_open(&self->w, sigs, (size_t)n);
	if (rc < 0) {
		self->w = NULL;
		Py_DECREF(self);
		return ipcpy_error(rc, NULL);
	}
	return (PyObject *)self;
}

static long long
read_call(void *c, int ms)
{
	void **x = c;

	return ipc_sigwatch_read(x[0], x[1], ms);
}

static PyObject *
sigwatch_read(ipcpy_SigWatch *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = { "timeout", NULL };
	PyObject *timeout = Py_None, *res;
	struct ipc_siginfo si;
	struct ipcpy_wait w;
	void *x[2];
	long long rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:read", kwlist, &timeout) ||
	    ipcpy_wait_init(&w, timeout) < 0)
		return NULL;
	if (!self->w)
		return closed_error();
	/* No shutdown call for a watcher: read in slices in every thread so
	 * that close() from another thread is seen within one. */
	w.sliced = 1;
	w.stop = &self->closing;
	if (ipcpy_lock_acquire(&self->lock, &w) < 0)
		return NULL;
	if (!self->w) {
		ipcpy_lock_release(&self->lock);
		return closed_error();
	}
	x[0] = self->w;
	x[1] = &si;
	rc = ipcpy_block(&w, read_call, x);
	ipcpy_lock_release(&self->lock);
	if (rc < 0)
		return ipcpy_error(rc, NULL);
	if (!(res = PyStructSequence_New(&ipcpy_SigInfoType)))
		return NULL;
	PyStructSequence_SET_ITEM(res, 0, PyLong_FromLong(si.signo));
	PyStructSequence_SET_ITEM(res, 1, PyLong_FromLong((long)si.pid));
	PyStructSequence_SET_ITEM(res, 2, PyLong_FromUnsignedLong((unsigned long)si.uid));
	PyStructSequence_SET_ITEM(res, 3, PyLong_FromLong(si.value));
	if (PyErr_Occurred()) {
		Py_DECREF(res);
		return NULL;
	}
	return res;
}

static PyObject *
sigwatch_fileno(ipcpy_SigWatch *self, PyObject *unused)
{
	int fd;

	if (!self->w)
		return closed_error();
	fd = ipc_sigwatch_fd(self->w);
	if (fd < 0)
		return ipcpy_error(fd, NULL);
	return PyLong_FromLong(fd);
}

static PyObject *
sigwatch_close(ipcpy_SigWatch *self, PyObject *unused)
{
	struct ipcpy_wait w;
	ipc_sigwatch *sw;
	int rc;

	if (!self->w)
		Py_RETURN_NONE;
	self->closing = 1;
	ipcpy_wait_init(&w, Py_None);
	if (ipcpy_lock_acquire(&self->lock, &w) < 0)
		return NULL;
	sw = self->w;
	self->w = NULL;
	ipcpy_lock_release(&self->lock);
	if (!sw)
		Py_RETURN_NONE;
	rc = ipc_sigwatch_close(sw);
	if (rc < 0)
		return ipcpy_error(rc, NULL);
	Py_RETURN_NONE;
}

static PyObject *
sigwatch_exit(ipcpy_SigWatch *self, PyObject *args)
{
	return sigwatch_close(self, NULL);
}

static PyObject *
sigwatch_closed(ipcpy_SigWatch *self, void *unused)
{
	return PyBool_FromLong(self->w == NULL);
}

static void
sigwatch_dealloc(ipcpy_SigWatch *self)
{
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	if (self->w)
		ipc_sigwatch_close(self->w);
	ipcpy_lock_free(&self->lock);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef sigwatch_methods[] = {
	{ "read", (PyCFunction)(void (*)(void))sigwatch_read, METH_VARARGS | METH_KEYWORDS,
	  "read(timeout=None) -> SigInfo\n\nThe next watched signal." },
	{ "fileno", (PyCFunction)sigwatch_fileno, METH_NOARGS, "fileno() -> int" },
	{ "close", (PyCFunction)sigwatch_close, METH_NOARGS,
	  "close()\n\nStop watching (the signals stay blocked in the thread that opened it)." },
	{ "__enter__", (PyCFunction)ipcpy_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)sigwatch_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef sigwatch_getset[] = {
	{ "closed", (getter)sigwatch_closed, NULL, "True once close() ran.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject ipcpy_SigWatchType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "ipc.SigWatch",
	.tp_basicsize = sizeof(ipcpy_SigWatch),
	.tp_dealloc = (destructor)sigwatch_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "SigWatch(signals): block the signals in this thread and read them as events.\n"
	          "Create it before starting threads (else OSError EBUSY).",
	.tp_weaklistoffset = offsetof(ipcpy_SigWatch, weakrefs),
	.tp_methods = sigwatch_methods,
	.tp_getset = sigwatch_getset,
	.tp_new = sigwatch_new,
};
