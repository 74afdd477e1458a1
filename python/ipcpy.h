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

/* The types. */
extern PyTypeObject ipcpy_ChannelType, ipcpy_ListenerType, ipcpy_SigWatchType;
extern PyTypeObject ipcpy_SigInfoType;

typedef struct {
	PyObject_HEAD
	ipc_channel      *ch;       /* NULL once closed */
	struct ipcpy_lock send_lock, recv_lock;
	int               flags;
	int               fd;       /* ipc_fd() once asked, -1 before */
	unsigned          fd_gen;   /* the fork generation it was asked in */
	PyObject         *name;     /* the URI or "pipe", for repr */
	PyObject         *weakrefs;
	PyObject         *loan[2];  /* ipc.Loan out: send, receive (borrowed: the
	                               loan holds the channel and clears these) */
} ipcpy_Channel;

/* loan.c: zero-copy loans on shm */
PyObject *ipcpy_channel_send_loan(ipcpy_Channel *self, PyObject *args, PyObject *kw);
PyObject *ipcpy_channel_recv_loan(ipcpy_Channel *self, PyObject *args, PyObject *kw);
int ipcpy_loans_detach(ipcpy_Channel *c);   /* before close: -1, BufferError */
int ipcpy_loan_ready(PyObject *m);

typedef struct {
	PyObject_HEAD
	ipc_listener     *l;
	struct ipcpy_lock lock;
	int               fd;       /* ipc_listener_fd() once asked, -1 before */
	unsigned          fd_gen;
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
PyObject *ipcpy_listener_wrap(ipc_listener *l);
int ipcpy_options(PyObject *kwargs, ipc_options *opt);
PyObject *ipcpy_poll(PyObject *self, PyObject *args, PyObject *kwargs);
int ipcpy_siginfo_ready(void);

#endif
