/* The ipc extension module (ipc._ipc, re-exported by the ipc package):
 * open, pipe, listen, notify, version, strerror, and the flag constants. */
#include "ipcpy.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include <ipc/version.h>

static int
size_opt(PyObject *o, const char *name, size_t *out)
{
	size_t v;

	if (!o || o == Py_None)
		return 0;
	v = PyLong_AsSize_t(o);
	if (v == (size_t)-1 && PyErr_Occurred()) {
		if (PyErr_ExceptionMatches(PyExc_OverflowError) || PyErr_ExceptionMatches(PyExc_TypeError))
			PyErr_Format(PyExc_ValueError, "%s must be a non-negative int or None", name);
		return -1;
	}
	*out = v;
	return 0;
}

/* The keyword options of open() and listen(), into an ipc_options. */
static int
parse_options(PyObject *max_msg, PyObject *capacity, PyObject *mode, PyObject *open_timeout,
              ipc_options *opt, struct ipcpy_wait *w)
{
	size_t m = 0;

	memset(opt, 0, sizeof(*opt));
	opt->size = sizeof(*opt);
	if (size_opt(max_msg, "max_msg", &opt->max_msg) < 0 ||
	    size_opt(capacity, "capacity", &opt->capacity) < 0 ||
	    size_opt(mode, "mode", &m) < 0)
		return -1;
	if (m > 07777) {
		PyErr_SetString(PyExc_ValueError, "mode must be a permission mode (0 to 0o7777)");
		return -1;
	}
	opt->mode = (unsigned)m;
	if (open_timeout && open_timeout != Py_None) {
		double t = PyFloat_AsDouble(open_timeout);

		if (t == -1.0 && PyErr_Occurred())
			return -1;
		if (!(t > 0)) {
			PyErr_SetString(PyExc_ValueError, "open_timeout must be > 0 or None (forever)");
			return -1;
		}
	}
	return ipcpy_wait_init(w, open_timeout);
}

/* The tls_* keywords of open() and listen(): the path strings are held as
 * bytes until the call is over (the library reads them during it only). */
struct tls_args {
	PyObject      *cert, *key, *ca, *server_name;  /* bytes or NULL */
	int            require_client_cert, allow_1_2;
	struct ipc_tls tls;
};

#define TLS_KWNAMES "tls_cert", "tls_key", "tls_ca", "tls_server_name", \
	"tls_require_client_cert", "tls_allow_1_2"

/* O& converter: None stays NULL, a str or path-like becomes bytes. */
static int
tls_path(PyObject *o, void *out)
{
	PyObject **res = out;

	if (!o) {                   /* cleanup call */
		Py_CLEAR(*res);
		return 1;
	}
	if (o == Py_None) {
		*res = NULL;
		return 1;
	}
	return PyUnicode_FSConverter(o, res) ? Py_CLEANUP_SUPPORTED : 0;
}

/* Fill t->tls and point opt->tls at it when any tls_* keyword was given. */
static void
tls_fill(struct tls_args *t, ipc_options *opt)
{
	struct ipc_tls init = IPC_TLS_INIT;

	if (!t->cert && !t->key && !t->ca && !t->server_name && !t->require_client_cert &&
	    !t->allow_1_2)
		return;
	t->tls = init;
	t->tls.cert_file = t->cert ? PyBytes_AS_STRING(t->cert) : NULL;
	t->tls.key_file = t->key ? PyBytes_AS_STRING(t->key) : NULL;
	t->tls.ca_file = t->ca ? PyBytes_AS_STRING(t->ca) : NULL;
	t->tls.server_name = t->server_name ? PyBytes_AS_STRING(t->server_name) : NULL;
	t->tls.flags = (t->require_client_cert ? IPC_TLS_REQUIRE_CLIENT_CERT : 0u) |
	               (t->allow_1_2 ? IPC_TLS_1_2 : 0u);
	opt->tls = &t->tls;
}

static void
tls_release(struct tls_args *t)
{
	Py_CLEAR(t->cert);
	Py_CLEAR(t->key);
	Py_CLEAR(t->ca);
	Py_CLEAR(t->server_name);
}

struct open_ctx {
	const char  *uri;
	int          flags;
	ipc_options  opt;
	ipc_channel *out;
};

static long long
open_call(void *c, int ms)
{
	struct open_ctx *x = c;
	ipc_options o = x->opt;

	if (ms == 0)                 /* 0 would mean "forever" to ipc_open */
		return -ETIMEDOUT;
	o.open_timeout_ms = ms < 0 ? 0 : ms;
	return ipc_open(&x->out, x->uri, x->flags, &o);
}

/* Opens that only wait for a peer to appear (a FIFO's reader, an shm
 * object's creator) may be retried, so they wait in slices in the main
 * thread; a connect is one call (a retry would restart its handshake). */
static int
open_retryable(const char *uri)
{
	return strncmp(uri, "fifo:", 5) == 0 || strncmp(uri, "shm:", 4) == 0;
}

static PyObject *
ipc_open_py(PyObject *mod, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = { "uri", "flags", "max_msg", "capacity", "mode", "open_timeout",
	                          TLS_KWNAMES, NULL };
	struct tls_args t = { 0 };
	PyObject *max_msg = NULL, *capacity = NULL, *mode = NULL, *open_timeout = NULL, *name;
	struct open_ctx x = { .flags = IPC_SEND | IPC_RECV };
	struct ipcpy_wait w;
	long long rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s|i$OOOOO&O&O&O&pp:open", kwlist, &x.uri,
	                                 &x.flags, &max_msg, &capacity, &mode, &open_timeout,
	                                 tls_path, &t.cert, tls_path, &t.key, tls_path, &t.ca,
	                                 tls_path, &t.server_name, &t.require_client_cert,
	                                 &t.allow_1_2))
		return NULL;
	if (parse_options(max_msg, capacity, mode, open_timeout, &x.opt, &w) < 0) {
		tls_release(&t);
		return NULL;
	}
	tls_fill(&t, &x.opt);
	if (!open_retryable(x.uri))
		w.sliced = 0;
	rc = ipcpy_block(&w, open_call, &x);
	tls_release(&t);
	name = PyTuple_GET_ITEM(args, 0);
	if (rc < 0)
		return ipcpy_error(rc, name);
	return ipcpy_channel_wrap(x.out, x.flags, name);
}

static PyObject *
ipc_listen_py(PyObject *mod, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = { "uri", "flags", "max_msg", "capacity", "mode", "open_timeout",
	                          TLS_KWNAMES, NULL };
	struct tls_args t = { 0 };
	PyObject *max_msg = NULL, *capacity = NULL, *mode = NULL, *open_timeout = NULL;
	const char *uri;
	struct ipcpy_wait w;
	ipc_listener *l;
	ipc_options opt;
	int flags = 0, rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s|i$OOOOO&O&O&O&pp:listen", kwlist, &uri,
	                                 &flags, &max_msg, &capacity, &mode, &open_timeout,
	                                 tls_path, &t.cert, tls_path, &t.key, tls_path, &t.ca,
	                                 tls_path, &t.server_name, &t.require_client_cert,
	                                 &t.allow_1_2))
		return NULL;
	if (parse_options(max_msg, capacity, mode, open_timeout, &opt, &w) < 0) {
		tls_release(&t);
		return NULL;
	}
	tls_fill(&t, &opt);
	if (w.deadline > 0) {
		long long ms = (w.deadline - ipcpy_now_ns() + 999999) / 1000000;

		opt.open_timeout_ms = ms < 1 ? 1 : ms > INT_MAX ? INT_MAX : (int)ms;
	}
	Py_BEGIN_ALLOW_THREADS
	rc = ipc_listen(&l, uri, flags, &opt);
	Py_END_ALLOW_THREADS
	tls_release(&t);
	if (rc < 0)
		return ipcpy_error(rc, PyTuple_GET_ITEM(args, 0));
	return ipcpy_listener_wrap(l);
}

/* ipc_pipe and ipc_pair: two ends, as a tuple of Channels. */
static PyObject *
two_ends(int (*make)(ipc_channel *[2], int), const char *what, int flags, int f0, int f1)
{
	ipc_channel *ends[2];
	PyObject *name, *a, *b;
	int rc;

	rc = make(ends, flags);
	if (rc < 0)
		return ipcpy_error(rc, NULL);
	if (!(name = PyUnicode_FromString(what))) {
		ipc_close(ends[0]);
		ipc_close(ends[1]);
		return NULL;
	}
	a = ipcpy_channel_wrap(ends[0], (flags & ~(IPC_SEND | IPC_RECV)) | f0, name);
	b = ipcpy_channel_wrap(ends[1], (flags & ~(IPC_SEND | IPC_RECV)) | f1, name);
	Py_DECREF(name);
	if (!a || !b) {
		Py_XDECREF(a);
		Py_XDECREF(b);
		return NULL;
	}
	return Py_BuildValue("(NN)", a, b);
}

static PyObject *
ipc_pipe_py(PyObject *mod, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = { "flags", NULL };
	int flags = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|i:pipe", kwlist, &flags))
		return NULL;
	return two_ends(ipc_pipe, "pipe", flags, IPC_RECV, IPC_SEND);
}

static PyObject *
ipc_pair_py(PyObject *mod, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = { "flags", NULL };
	int flags = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|i:pair", kwlist, &flags))
		return NULL;
	return two_ends(ipc_pair, "pair", flags, IPC_SEND | IPC_RECV, IPC_SEND | IPC_RECV);
}

static PyObject *
ipc_notify_py(PyObject *mod, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = { "pid", "signo", "value", NULL };
	long pid;
	int signo, value = 0, rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "li|i:notify", kwlist, &pid, &signo, &value))
		return NULL;
	rc = ipc_notify((pid_t)pid, signo, value);
	if (rc < 0)
		return ipcpy_error(rc, NULL);
	Py_RETURN_NONE;
}

static PyObject *
ipc_version_py(PyObject *mod, PyObject *unused)
{
	return PyUnicode_FromString(ipc_version());
}

static PyObject *
ipc_strerror_py(PyObject *mod, PyObject *arg)
{
	long rc = PyLong_AsLong(arg);

	if (rc == -1 && PyErr_Occurred())
		return NULL;
	if (rc < INT_MIN || rc > INT_MAX) {
		PyErr_SetString(PyExc_OverflowError, "return value out of range");
		return NULL;
	}
	return PyUnicode_FromString(ipc_strerror((int)rc));
}

static PyMethodDef ipc_methods[] = {
	{ "open", (PyCFunction)(void (*)(void))ipc_open_py, METH_VARARGS | METH_KEYWORDS,
	  "open(uri, flags=SEND|RECV, *, max_msg=None, capacity=None, mode=None, open_timeout=None,\n"
	  "     tls_cert=None, tls_key=None, tls_ca=None, tls_server_name=None,\n"
	  "     tls_require_client_cert=False, tls_allow_1_2=False)"
	  " -> Channel" },
	{ "listen", (PyCFunction)(void (*)(void))ipc_listen_py, METH_VARARGS | METH_KEYWORDS,
	  "listen(uri, flags=0, *, max_msg=None, capacity=None, mode=None, open_timeout=None,\n"
	  "       tls_cert=None, tls_key=None, tls_ca=None, tls_server_name=None,\n"
	  "       tls_require_client_cert=False, tls_allow_1_2=False)"
	  " -> Listener" },
	{ "pipe", (PyCFunction)(void (*)(void))ipc_pipe_py, METH_VARARGS | METH_KEYWORDS,
	  "pipe(flags=0) -> (rx, tx)\n\nAn anonymous pipe; both ends survive fork()." },
	{ "pair", (PyCFunction)(void (*)(void))ipc_pair_py, METH_VARARGS | METH_KEYWORDS,
	  "pair(flags=0) -> (a, b)\n\nTwo connected duplex ends (socketpair); both survive fork()." },
	{ "poll", (PyCFunction)(void (*)(void))ipcpy_poll, METH_VARARGS | METH_KEYWORDS,
	  "poll(items, timeout=None) -> [(obj, revents)]\n\n"
	  "items: (Channel | Listener | SigWatch, events) pairs." },
	{ "notify", (PyCFunction)(void (*)(void))ipc_notify_py, METH_VARARGS | METH_KEYWORDS,
	  "notify(pid, signo, value=0)\n\nsigqueue() a signal with an int payload." },
	{ "version", ipc_version_py, METH_NOARGS, "version() -> str\n\nThe loaded libipc's version." },
	{ "strerror", ipc_strerror_py, METH_O, "strerror(rc) -> str\n\nipc_strerror() of a return value." },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef ipc_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "ipc._ipc",
	.m_doc = "libipc channels: one API over pipes, FIFOs, fd:, tcp, unix and shared memory.",
	.m_size = -1,
	.m_methods = ipc_methods,
};

/* Signal handlers run in the main thread; the module may be imported in
 * another one, so ask threading which it is. */
static int
find_main_thread(void)
{
	PyObject *threading, *mt, *ident;
	unsigned long id;

	if (!(threading = PyImport_ImportModule("threading")))
		return -1;
	mt = PyObject_CallMethod(threading, "main_thread", NULL);
	Py_DECREF(threading);
	if (!mt)
		return -1;
	ident = PyObject_GetAttrString(mt, "ident");
	Py_DECREF(mt);
	if (!ident)
		return -1;
	id = PyLong_AsUnsignedLong(ident);
	Py_DECREF(ident);
	if (PyErr_Occurred())
		return -1;
	ipcpy_set_main_ident(id);
	return 0;
}

PyMODINIT_FUNC PyInit__ipc(void);

PyMODINIT_FUNC
PyInit__ipc(void)
{
	static const struct { const char *name; int value; } consts[] = {
		{ "SEND", IPC_SEND }, { "RECV", IPC_RECV }, { "CREATE", IPC_CREATE },
		{ "RAW", IPC_RAW }, { "ANY_UID", IPC_ANY_UID }, { "INHERIT", IPC_INHERIT },
		{ "POLLIN", IPC_POLLIN }, { "POLLOUT", IPC_POLLOUT },
		{ "POLLHUP", IPC_POLLHUP }, { "POLLERR", IPC_POLLERR },
		{ "TLS_REQUIRE_CLIENT_CERT", IPC_TLS_REQUIRE_CLIENT_CERT }, { "TLS_1_2", IPC_TLS_1_2 },
	};
	PyObject *m;
	size_t i;

	if (PyType_Ready(&ipcpy_ChannelType) < 0 || PyType_Ready(&ipcpy_ListenerType) < 0 ||
	    PyType_Ready(&ipcpy_SigWatchType) < 0 || PyType_Ready(&ipcpy_SendLoanType) < 0 ||
	    PyType_Ready(&ipcpy_RecvLoanType) < 0 ||
	    (!ipcpy_SigInfoType.tp_name && ipcpy_siginfo_ready() < 0))
		return NULL;
	if (!(m = PyModule_Create(&ipc_module)))
		return NULL;
	for (i = 0; i < sizeof(consts) / sizeof(consts[0]); i++)
		if (PyModule_AddIntConstant(m, consts[i].name, consts[i].value) < 0)
			goto fail;
	if (PyModule_AddStringConstant(m, "__version__", IPC_VERSION_STRING) < 0 ||
	    PyModule_AddIntConstant(m, "SLICE_MS", IPCPY_SLICE_MS) < 0)
		goto fail;
	Py_INCREF(&ipcpy_ChannelType);
	if (PyModule_AddObject(m, "Channel", (PyObject *)&ipcpy_ChannelType) < 0)
		goto fail;
	Py_INCREF(&ipcpy_ListenerType);
	if (PyModule_AddObject(m, "Listener", (PyObject *)&ipcpy_ListenerType) < 0)
		goto fail;
	Py_INCREF(&ipcpy_SendLoanType);
	if (PyModule_AddObject(m, "SendLoan", (PyObject *)&ipcpy_SendLoanType) < 0)
		goto fail;
	Py_INCREF(&ipcpy_RecvLoanType);
	if (PyModule_AddObject(m, "RecvLoan", (PyObject *)&ipcpy_RecvLoanType) < 0)
		goto fail;
	Py_INCREF(&ipcpy_SigWatchType);
	if (PyModule_AddObject(m, "SigWatch", (PyObject *)&ipcpy_SigWatchType) < 0)
		goto fail;
	Py_INCREF(&ipcpy_SigInfoType);
	if (PyModule_AddObject(m, "SigInfo", (PyObject *)&ipcpy_SigInfoType) < 0)
		goto fail;
	ipcpy_fork_hooks();
	if (find_main_thread() < 0)
		goto fail;
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
