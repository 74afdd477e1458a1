/* Waiting from Python: timeouts in seconds, blocking library calls with the
 * GIL released and Ctrl-C seen within a slice, per-object locks that a
 * forked child renews, and library return values as Python exceptions. */
#include "ipcpy.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <time.h>

static unsigned long main_ident;
static unsigned fork_gen;   /* bumped in every child fork() makes */

long long
ipcpy_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Signal handlers run only in the main thread of the main interpreter, so
 * only there is a wait worth slicing; elsewhere close() wakes a blocked call
 * through ipc_shutdown(). */
int
ipcpy_is_main_thread(void)
{
	return PyThread_get_thread_ident() == main_ident &&
	       PyInterpreterState_Get() == PyInterpreterState_Main();
}

int
ipcpy_wait_init(struct ipcpy_wait *w, PyObject *timeout)
{
	double t;

	w->sliced = ipcpy_is_main_thread();
	w->stop = NULL;
	if (!timeout || timeout == Py_None) {
		w->deadline = -1;
		return 0;
	}
	t = PyFloat_AsDouble(timeout);
	if (t == -1.0 && PyErr_Occurred())
		return -1;
	if (isnan(t) || t < 0) {
		PyErr_SetString(PyExc_ValueError, "timeout must be a non-negative number or None");
		return -1;
	}
	if (t == 0) {
		w->deadline = 0;
	} else if (t > 1e9) {               /* 31 years: forever, and no overflow */
		w->deadline = -1;
	} else {
		w->deadline = ipcpy_now_ns() + (long long)ceil(t * 1e9);
	}
	return 0;
}

/* The timeout for the next library call: what is left, at most one slice
 * when sliced, rounded up so that a call never wakes early and spins. */
int
ipcpy_wait_ms(const struct ipcpy_wait *w)
{
	long long left;

	if (w->deadline < 0)
		return w->sliced ? IPCPY_SLICE_MS : -1;
	if (w->deadline == 0)
		return 0;
	left = w->deadline - ipcpy_now_ns();
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	if (w->sliced && left > IPCPY_SLICE_MS)
		return IPCPY_SLICE_MS;
	return left > INT_MAX ? INT_MAX : (int)left;
}

long long
ipcpy_block(struct ipcpy_wait *w, ipcpy_call_fn fn, void *ctx)
{
	long long rc;
	int ms;

	for (;;) {
		ms = ipcpy_wait_ms(w);
		Py_BEGIN_ALLOW_THREADS
		rc = fn(ctx, ms);
		Py_END_ALLOW_THREADS
		if (rc != -ETIMEDOUT && !(rc == -EAGAIN && ms == 0))
			return rc;
		if (w->deadline == 0)
			return -EAGAIN;
		if (w->deadline > 0 && ipcpy_now_ns() >= w->deadline)
			return -ETIMEDOUT;
		/* A slice ran out: run the handlers of signals that came meanwhile
		 * (KeyboardInterrupt from SIGINT), then wait on. */
		if (PyErr_CheckSignals() < 0)
			return IPCPY_PYERR;
		if (w->stop && *w->stop)
			return IPC_EOF;
	}
}

long long
ipcpy_run(struct ipcpy_wait *w, ipcpy_call_fn fn, void *ctx, int quick)
{
	long long rc;

	if (quick) {
		rc = fn(ctx, 0);
		if (rc != -EAGAIN || w->deadline == 0)
			return rc;
	}
	return ipcpy_block(w, fn, ctx);
}

/* pthread_atfork child handler: the thread that forked is the child's main
 * thread (Python makes it so too), and every lock is renewed on next use. */
static void
after_fork_child(void)
{
	fork_gen++;
	main_ident = PyThread_get_thread_ident();
}

void
ipcpy_fork_hooks(void)
{
	main_ident = PyThread_get_thread_ident();
	pthread_atfork(NULL, NULL, after_fork_child);
}

void
ipcpy_set_main_ident(unsigned long ident)
{
	main_ident = ident;
}

static int
lock_reset(struct ipcpy_lock *l)
{
	PyThread_type_lock wake = PyThread_allocate_lock();

	if (!wake) {
		PyErr_NoMemory();
		return -1;
	}
	PyThread_acquire_lock(wake, WAIT_LOCK);    /* no token yet */
	if (l->wake)
		PyThread_free_lock(l->wake);
	l->wake = wake;
	l->busy = l->waiters = 0;
	l->owner = 0;
	l->gen = fork_gen;
	return 0;
}

unsigned
ipcpy_fork_generation(void)
{
	return fork_gen;
}

int
ipcpy_lock_init(struct ipcpy_lock *l)
{
	l->wake = NULL;
	return lock_reset(l);
}

void
ipcpy_lock_free(struct ipcpy_lock *l)
{
	if (l->wake)
		PyThread_free_lock(l->wake);
	l->wake = NULL;
}

int
ipcpy_lock_acquire(struct ipcpy_lock *l, struct ipcpy_wait *w)
{
	unsigned long self = PyThread_get_thread_ident();
	int ms, rc = 0;

	if (l->gen != fork_gen && lock_reset(l) < 0)
		return -1;
	if (!l->busy)
		goto got;
	if (l->owner == self) {
		/* A signal handler using the object its thread is blocked on. */
		PyErr_SetString(PyExc_RuntimeError, "reentrant call on an ipc object");
		return -1;
	}
	l->waiters++;
	while (l->busy) {
		ms = ipcpy_wait_ms(w);
		if (ms == 0) {
			ipcpy_error(w->deadline == 0 ? -EAGAIN : -ETIMEDOUT, NULL);
			rc = -1;
			break;
		}
		Py_BEGIN_ALLOW_THREADS
		PyThread_acquire_lock_timed(l->wake, ms < 0 ? -1 : (PY_TIMEOUT_T)ms * 1000, 0);
		Py_END_ALLOW_THREADS
		if (l->gen != fork_gen)
			break;          /* forked meanwhile (a handler did): start over */
		if (l->busy && PyErr_CheckSignals() < 0) {
			rc = -1;
			break;
		}
	}
	if (l->gen != fork_gen)
		return lock_reset(l) < 0 ? -1 : ipcpy_lock_acquire(l, w);
	l->waiters--;
	if (rc < 0)
		return -1;
got:
	l->busy = 1;
	l->owner = self;
	return 0;
}

void
ipcpy_lock_release(struct ipcpy_lock *l)
{
	l->busy = 0;
	l->owner = 0;
	if (l->waiters)
		PyThread_release_lock(l->wake);
}

PyObject *
ipcpy_error(long long rc, PyObject *filename)
{
	PyObject *args;
	int e;

	if (rc == IPCPY_PYERR)
		return NULL;
	if (rc == IPC_EOF) {
		PyErr_SetString(PyExc_EOFError, ipc_strerror(IPC_EOF));
		return NULL;
	}
	if (rc >= 0 || rc < -4095) {
		PyErr_Format(PyExc_SystemError, "ipc: unexpected return value %lld", rc);
		return NULL;
	}
	e = (int)-rc;
	if (e == ENOMEM)
		return PyErr_NoMemory();
	/* OSError(errno, text[, filename]) picks its subclass from errno:
	 * TimeoutError, BrokenPipeError, BlockingIOError, PermissionError ... */
	if (filename)
		args = Py_BuildValue("(isO)", e, ipc_strerror((int)rc), filename);
	else
		args = Py_BuildValue("(is)", e, ipc_strerror((int)rc));
	if (args) {
		PyErr_SetObject(PyExc_OSError, args);
		Py_DECREF(args);
	}
	return NULL;
}
