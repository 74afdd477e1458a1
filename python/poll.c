/* ipc.poll(): one wait over channels, listeners and signal watchers. Each
 * object's lock is held for the wait (so that no thread closes it under the
 * library), taken in address order so that two polls cannot deadlock. */
#include "ipcpy.h"

#include <errno.h>
#include <stdlib.h>

struct held {
	struct ipcpy_lock *lock;
};

static int
cmp_lock(const void *a, const void *b)
{
	const struct ipcpy_lock *x = ((const struct held *)a)->lock;
	const struct ipcpy_lock *y = ((const struct held *)b)->lock;

	return x < y ? -1 : x > y;
}

struct poll_ctx {
	struct ipc_pollitem *items;
	size_t               n;
};

/* ipc_poll answers 0 when nothing is ready: a timeout, for ipcpy_block. */
static long long
poll_call(void *c, int ms)
{
	struct poll_ctx *x = c;
	int rc = ipc_poll(x->items, x->n, ms);

	if (rc == 0)
		return ms == 0 ? -EAGAIN : -ETIMEDOUT;
	return rc;
}

PyObject *
ipcpy_poll(PyObject *mod, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = { "items", "timeout", NULL };
	PyObject *seq, *timeout = Py_None, *fast = NULL, *res = NULL;
	struct ipc_pollitem *items = NULL;
	struct held *held = NULL;
	struct ipcpy_lock *prev = NULL;
	struct ipcpy_wait w;
	struct poll_ctx x;
	size_t i, n, nheld = 0, taken = 0;
	long long rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:poll", kwlist, &seq, &timeout) ||
	    ipcpy_wait_init(&w, timeout) < 0)
		return NULL;
	if (!(fast = PySequence_Fast(seq, "poll() takes a sequence of (object, events) pairs")))
		return NULL;
	n = (size_t)PySequence_Fast_GET_SIZE(fast);
	items = PyMem_Calloc(n ? n : 1, sizeof(*items));
	held = PyMem_Calloc(n ? 2 * n : 1, sizeof(*held));
	if (!items || !held) {
		PyErr_NoMemory();
		goto out;
	}
	for (i = 0; i < n; i++) {
		PyObject *pair = PySequence_Fast_GET_ITEM(fast, i), *obj;
		int ev;

		if (!PyTuple_Check(pair) || !PyArg_ParseTuple(pair, "Oi", &obj, &ev)) {
			if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_TypeError)) {
				PyErr_Clear();
				PyErr_SetString(PyExc_TypeError,
				                "poll() items are (Channel | Listener | SigWatch, events) tuples");
			}
			goto out;
		}
		items[i].events = (short)ev;
		if (PyObject_TypeCheck(obj, &ipcpy_ChannelType)) {
			ipcpy_Channel *c = (ipcpy_Channel *)obj;

			if (ev & IPC_POLLOUT)
				held[nheld++].lock = &c->send_lock;
			if ((ev & IPC_POLLIN) || !(ev & IPC_POLLOUT))
				held[nheld++].lock = &c->recv_lock;
		} else if (PyObject_TypeCheck(obj, &ipcpy_ListenerType)) {
			held[nheld++].lock = &((ipcpy_Listener *)obj)->lock;
		} else if (PyObject_TypeCheck(obj, &ipcpy_SigWatchType)) {
			held[nheld++].lock = &((ipcpy_SigWatch *)obj)->lock;
		} else {
			PyErr_Format(PyExc_TypeError, "poll() cannot wait for %R", obj);
			goto out;
		}
	}
	qsort(held, nheld, sizeof(*held), cmp_lock);
	for (i = 0; i < nheld; i++) {
		if (i > 0 && held[i].lock == prev) {
			held[i].lock = NULL;    /* the same object twice */
			continue;
		}
		prev = held[i].lock;
		if (ipcpy_lock_acquire(held[i].lock, &w) < 0) {
			/* Busy all the while (another thread is in recv): for
			 * poll, that is nothing ready in time. */
			if (PyErr_ExceptionMatches(PyExc_TimeoutError) ||
			    PyErr_ExceptionMatches(PyExc_BlockingIOError)) {
				PyErr_Clear();
				res = PyList_New(0);
			}
			goto out;
		}
		taken = i + 1;
	}
	/* Only now, with every lock held, are the handles stable. */
	for (i = 0; i < n; i++) {
		PyObject *obj = PyTuple_GET_ITEM(PySequence_Fast_GET_ITEM(fast, i), 0);

		if (PyObject_TypeCheck(obj, &ipcpy_ChannelType))
			items[i].ch = ((ipcpy_Channel *)obj)->ch;
		else if (PyObject_TypeCheck(obj, &ipcpy_ListenerType))
			items[i].l = ((ipcpy_Listener *)obj)->l;
		else
			items[i].w = ((ipcpy_SigWatch *)obj)->w;
		if (!items[i].ch && !items[i].l && !items[i].w) {
			PyErr_Format(PyExc_ValueError, "poll() on closed %R", obj);
			goto out;
		}
	}
	x.items = items;
	x.n = n;
	rc = ipcpy_block(&w, poll_call, &x);
	if (rc == -EAGAIN || rc == -ETIMEDOUT) {
		res = PyList_New(0);
		goto out;
	}
	if (rc < 0) {
		ipcpy_error(rc, NULL);
		goto out;
	}
	if (!(res = PyList_New(0)))
		goto out;
	for (i = 0; i < n; i++) {
		PyObject *t;

		if (!items[i].revents)
			continue;
		t = Py_BuildValue("(Oi)", PyTuple_GET_ITEM(PySequence_Fast_GET_ITEM(fast, i), 0),
		                  (int)items[i].revents);
		if (!t || PyList_Append(res, t) < 0) {
			Py_XDECREF(t);
			Py_CLEAR(res);
			goto out;
		}
		Py_DECREF(t);
	}
out:
	for (i = 0; i < taken; i++)
		if (held[i].lock)
			ipcpy_lock_release(held[i].lock);
	PyMem_Free(items);
	PyMem_Free(held);
	Py_XDECREF(fast);
	return res;
}
