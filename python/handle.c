/* What the object types share: a descriptor the library makes on the first
 * ask in each process, __enter__, and the coroutines of ipc/asyncio.py. */
#include "ipcpy.h"

PyObject *
ipcpy_fileno(PyObject *self, struct ipcpy_fd *c, struct ipcpy_lock *lock, ipcpy_ask_fd_fn ask)
{
	struct ipcpy_wait w;
	int fd;

	if (c->fd >= 0 && c->gen == ipcpy_fork_generation())
		return PyLong_FromLong(c->fd);
	ipcpy_wait_init(&w, Py_None);
	if (ipcpy_lock_acquire(lock, &w) < 0)
		return NULL;
	fd = ask(self);
	if (fd >= 0) {
		c->fd = fd;
		c->gen = ipcpy_fork_generation();
	}
	ipcpy_lock_release(lock);
	if (fd < 0)
		return ipcpy_error(fd, NULL);
	return PyLong_FromLong(fd);
}

PyObject *
ipcpy_enter(PyObject *self, PyObject *unused)
{
	Py_INCREF(self);
	return self;
}

PyObject *
ipcpy_call_asyncio(const char *fn, PyObject *self, PyObject *args, PyObject *kwargs)
{
	PyObject *mod, *f, *all, *res = NULL;

	if (!(mod = PyImport_ImportModule("ipc.asyncio")))
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
