/* Shared internals of the ipc extension module: waits that honour Ctrl-C,
 * per-object locks that survive fork(), errors, and the three types. */
#ifndef IPCPY_H
#define IPCPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <ipc/ipc.h>

#if PY_VERSION_HEX < 0x03090000
#error "the ipc module needs Python 3.9 or later (PyInterpreterState_Get)"
#endif

/* A blocking call in the main thread is cut into slices this long, so that
 * the signal flag Python's C handler sets is looked at in time: Ctrl-C
 * raises KeyboardInterrupt within one slice. The library retries EINTR by
 * itself, so a slice is the only way the flag is seen. */
#define IPCPY_SLICE_MS 25

/* What a call may wait for, from a Python timeout: deadline -1 forever,
 * 0 never blocks, else an absolute CLOCK_MONOTONIC time in ns. */
struct ipcpy_wait {
	long long deadline;
	int       sliced;      /* main thread: wait in slices, check signals between */
	const int *stop;       /* when set and non-zero after a slice: IPC_EOF */
};

int  ipcpy_wait_init(struct ipcpy_wait *w, PyObject *timeout);
int  ipcpy_wait_ms(const struct ipcpy_wait *w);
long long ipcpy_now_ns(void);

/* One library call, given the milliseconds it may wait; returns its result. */
typedef long long (*ipcpy_call_fn)(void *ctx, int timeout_ms);

/* Run @p fn until it returns something other than a timeout, the wait runs
 * out, or a signal handler raises. The GIL is released around each call.
 * Returns the call's result, or IPCPY_PYERR with a Python exception set. */
#define IPCPY_PYERR (-1000000)
long long ipcpy_block(struct ipcpy_wait *w, ipcpy_call_fn fn, void *ctx);
/* ipcpy_block, but with @p quick first one try that keeps the GIL: cheaper
 * than dropping it when the call can finish at once. */
long long ipcpy_run(struct ipcpy_wait *w, ipcpy_call_fn fn, void *ctx, int quick);

/* A per-object lock for the calls the C rules say need the caller's own
 * exclusion. Taken and released with the GIL held, so the uncontended case
 * is two stores; a waiter sleeps on @wake (a semaphore that each release
 * posts while someone waits) and looks again under the GIL. A forked child
 * starts it over: a holder that was a thread of the parent is gone. */
struct ipcpy_lock {
	int                busy;
	int                waiters;
	unsigned long      owner;   /* thread holding it, 0 when free */
	unsigned           gen;     /* fork generation it was made in */
	PyThread_type_lock wake;
};
int  ipcpy_lock_init(struct ipcpy_lock *l);
void ipcpy_lock_free(struct ipcpy_lock *l);
int  ipcpy_lock_acquire(struct ipcpy_lock *l, struct ipcpy_wait *w);
void ipcpy_lock_release(struct ipcpy_lock *l);
void ipcpy_fork_hooks(void);
void ipcpy_set_main_ident(unsigned long ident);
unsigned ipcpy_fork_generation(void);

/* Raise the Python exception for a library return value (negative errno or
 * IPC_EOF); returns NULL. IPCPY_PYERR keeps the exception already set. */
PyObject *ipcpy_error(long long rc, PyObject *filename);
int ipcpy_is_main_thread(void);

/* A descriptor the library creates on the first ask in each process (shm's
 * wake-up set, a listener's): asked once under the object's lock, kept for
 * the process it was asked in (a forked child asks again). */
struct ipcpy_fd {
	int      fd;        /* -1 before the first ask */
	unsigned gen;       /* the fork generation it was asked in */
};
/* Runs under the lock: the descriptor, a negative errno, or IPCPY_PYERR
 * with the object's "closed" error raised when it was closed meanwhile. */
typedef int (*ipcpy_ask_fd_fn)(PyObject *self);
PyObject *ipcpy_fileno(PyObject *self, struct ipcpy_fd *c, struct ipcpy_lock *lock,
                       ipcpy_ask_fd_fn ask);
PyObject *ipcpy_enter(PyObject *self, PyObject *unused);
/* ipc.asyncio.<fn>(self, *args, **kwargs): coroutines are Python's. */
PyObject *ipcpy_call_asyncio(const char *fn, PyObject *self, PyObject *args, PyObject *kwargs);

/* The types. */
extern PyTypeObject ipcpy_ChannelType, ipcpy_ListenerType, ipcpy_SigWatchType;
extern PyTypeObject ipcpy_SendLoanType, ipcpy_RecvLoanType;
extern PyTypeObject ipcpy_SigInfoType;

typedef struct {
	PyObject_HEAD
	ipc_channel      *ch;       /* NULL once closed */
	struct ipcpy_lock send_lock, recv_lock;
	int               flags;
	struct ipcpy_fd   fd;       /* ipc_fd() */
	Py_ssize_t        loan_exports; /* live buffers of its loans: close() waits for none */
	PyObject         *name;     /* the URI or "pipe", for repr */
	PyObject         *weakrefs;
} ipcpy_Channel;

typedef struct {
	PyObject_HEAD
	ipc_listener     *l;
	struct ipcpy_lock lock;
	struct ipcpy_fd   fd;       /* ipc_listener_fd() */
	PyObject         *addr;
	PyObject         *weakrefs;
} ipcpy_Listener;

typedef struct {
	PyObject_HEAD
	ipc_sigwatch     *w;
	struct ipcpy_lock lock;
	int               closing;
	PyObject         *weakrefs;
} ipcpy_SigWatch;

PyObject *ipcpy_channel_wrap(ipc_channel *ch, int flags, PyObject *name);
/* channel.c for loan.c: the "closed" ValueError; a direction's lock of a
 * still-open channel (0 with it held, or -1 with an exception: the wait ran
 * out, a signal handler raised, closed meanwhile); (positional..., timeout)
 * of a vectorcall method, @p npos of them required. */
PyObject *ipcpy_channel_closed(void);
int ipcpy_channel_lock(ipcpy_Channel *self, struct ipcpy_lock *l, struct ipcpy_wait *w);
int ipcpy_parse_args(const char *fn, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                     Py_ssize_t npos, PyObject **pos, PyObject **timeout);
/* loan.c: Channel.send_loan and Channel.recv_loan. */
PyObject *ipcpy_send_loan(ipcpy_Channel *self, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames);
PyObject *ipcpy_recv_loan(ipcpy_Channel *self, PyObject *const *args, Py_ssize_t nargs,
                          PyObject *kwnames);
PyObject *ipcpy_listener_wrap(ipc_listener *l);
int ipcpy_options(PyObject *kwargs, ipc_options *opt);
PyObject *ipcpy_poll(PyObject *self, PyObject *args, PyObject *kwargs);
int ipcpy_siginfo_ready(void);

#endif
