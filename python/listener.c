/* ipc.Listener: a tcp or unix listener and its accept(). */
#include "ipcpy.h"

#include <errno.h>

static PyObject *
closed_error(void)
{
	PyErr_SetString(PyExc_ValueError, "operation on closed listener");
	return NULL;
}

PyObject *
ipcpy_listener_wrap(ipc_listener *l)
{
	ipcpy_Listener *self = PyObject_New(ipcpy_Listener, &ipcpy_ListenerType);
	char buf[512];
	int n;

	if (!self) {
		ipc_listener_close(l);
		return NULL;
	}
	self->l = l;
	self->fd.fd = -1;
	self->fd.gen = 0;
	self->weakrefs = NULL;
	self->lock.wake = NULL;
	self->addr = NULL;
	n = ipc_listener_addr(l, buf, sizeof(buf));
	self->addr = n >= 0 ? PyUnicode_DecodeFSDefaultAndSize(buf, n) : (ipcpy_error(n, NULL), NULL);
	if (!self->addr || ipcpy_lock_init(&self->lock) < 0) {
		Py_DECREF(self);
		return NULL;
	}
	return (PyObject *)self;
}

struct accept_ctx {
	ipc_listener *l;
	ipc_channel  *out;
};

static long long
accept_call(void *c, int ms)
{
	struct accept_ctx *x = c;

	return ipc_accept(x->l, &x->out, ms);
}

static PyObject *
listener_accept(ipcpy_Listener *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = { "timeout", NULL };
	PyObject *timeout = Py_None;
	struct accept_ctx x = { 0 };
	struct ipcpy_wait w;
	long long rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:accept", kwlist, &timeout) ||
	    ipcpy_wait_init(&w, timeout) < 0)
		return NULL;
	if (!self->l)
		return closed_error();
	if (ipcpy_lock_acquire(&self->lock, &w) < 0)
		return NULL;
	if (!self->l) {
		ipcpy_lock_release(&self->lock);
		return closed_error();
	}
	x.l = self->l;
	rc = ipcpy_block(&w, accept_call, &x);
	ipcpy_lock_release(&self->lock);
	if (rc < 0)
		return ipcpy_error(rc, NULL);
	return ipcpy_channel_wrap(x.out, IPC_SEND | IPC_RECV, self->addr);
}

static int
ask_fd(PyObject *o)
{
	ipcpy_Listener *self = (ipcpy_Listener *)o;

	if (!self->l) {
		closed_error();
		return IPCPY_PYERR;
	}
	return ipc_listener_fd(self->l);
}

/* ipc_listener_fd() creates the descriptor on its first call in each
 * process: serialized with accept, kept for this process. */
static PyObject *
listener_fileno(ipcpy_Listener *self, PyObject *unused)
{
	if (!self->l)
		return closed_error();
	return ipcpy_fileno((PyObject *)self, &self->fd, &self->lock, ask_fd);
}

/* No lock: ipc_listener_shutdown is thread-safe and exists to wake the
 * accepting thread; the GIL keeps close() from freeing it meanwhile. */
static PyObject *
listener_shutdown(ipcpy_Listener *self, PyObject *unused)
{
	if (!self->l)
		return closed_error();
	ipc_listener_shutdown(self->l);
	Py_RETURN_NONE;
}

static PyObject *
listener_close(ipcpy_Listener *self, PyObject *unused)
{
	struct ipcpy_wait w;
	ipc_listener *l;
	int rc;

	if (!self->l)
		Py_RETURN_NONE;
	if (self->lock.busy)
		ipc_listener_shutdown(self->l);   /* wake the accepting thread */
	ipcpy_wait_init(&w, Py_None);
	if (ipcpy_lock_acquire(&self->lock, &w) < 0)
		return NULL;
	l = self->l;
	self->l = NULL;
	ipcpy_lock_release(&self->lock);
	if (!l)
		Py_RETURN_NONE;
	Py_BEGIN_ALLOW_THREADS
	rc = ipc_listener_close(l);
	Py_END_ALLOW_THREADS
	if (rc < 0)
		return ipcpy_error(rc, NULL);
	Py_RETURN_NONE;
}

static PyObject *
listener_exit(ipcpy_Listener *self, PyObject *args)
{
	return listener_close(self, NULL);
}

static PyObject *
listener_accept_async(PyObject *self, PyObject *args, PyObject *kwargs)
{
	return ipcpy_call_asyncio("accept", self, args, kwargs);
}

static PyObject *
listener_get_addr(ipcpy_Listener *self, void *unused)
{
	Py_INCREF(self->addr);
	return self->addr;
}

static PyObject *
listener_closed(ipcpy_Listener *self, void *unused)
{
	return PyBool_FromLong(self->l == NULL);
}

static PyObject *
listener_repr(ipcpy_Listener *self)
{
	return PyUnicode_FromFormat("<ipc.Listener %R%s>", self->addr, self->l ? "" : " closed");
}

static void
listener_dealloc(ipcpy_Listener *self)
{
	if (self->weakrefs)
		PyObject_ClearWeakRefs((PyObject *)self);
	if (self->l) {
		ipc_listener *l = self->l;

		self->l = NULL;
		Py_BEGIN_ALLOW_THREADS
		ipc_listener_close(l);
		Py_END_ALLOW_THREADS
	}
	ipcpy_lock_free(&self->lock);
	Py_XDECREF(self->addr);
	PyObject_Free(self);
}

static PyMethodDef listener_methods[] = {
	{ "accept", (PyCFunction)(void (*)(void))listener_accept, METH_VARARGS | METH_KEYWORDS,
	  "accept(timeout=None) -> Channel\n\nThe next peer whose hello arrived." },
	{ "accept_async", (PyCFunction)(void (*)(void))listener_accept_async,
	  METH_VARARGS | METH_KEYWORDS, "accept_async(timeout=None) -> coroutine" },
	{ "fileno", (PyCFunction)listener_fileno, METH_NOARGS, "fileno() -> int" },
	{ "shutdown", (PyCFunction)listener_shutdown, METH_NOARGS,
	  "shutdown()\n\nBlocked and later accept() calls raise EOFError." },
	{ "close", (PyCFunction)listener_close, METH_NOARGS, "close()" },
	{ "__enter__", (PyCFunction)ipcpy_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)listener_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef listener_getset[] = {
	{ "addr", (getter)listener_get_addr, NULL, "The bound URI (the real port after :0).", NULL },
	{ "closed", (getter)listener_closed, NULL, "True once close() ran.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject ipcpy_ListenerType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "ipc.Listener",
	.tp_basicsize = sizeof(ipcpy_Listener),
	.tp_dealloc = (destructor)listener_dealloc,
	.tp_repr = (reprfunc)listener_repr,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A listener from ipc.listen().",
	.tp_weaklistoffset = offsetof(ipcpy_Listener, weakrefs),
	.tp_methods = listener_methods,
	.tp_getset = listener_getset,
};
