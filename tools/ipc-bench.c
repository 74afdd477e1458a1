/* ipc-bench: measure every libipc transport beside the raw system calls of the
 * same mechanism (and libzmq / nng when built with them), in one run, on this
 * machine. Two processes (parent + forked child), each pinned to a CPU.
 *
 * Per row and message size: round-trip latency (ping-pong, p50 / p99) and
 * one-way streaming throughput (the child sends, the parent receives).
 * The raw baselines use the framing libipc uses: a 4-byte big-endian length
 * prefix and the payload, written with one writev(2), read back with plain
 * blocking read(2) loops (header, then payload). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ipc/ipc.h>
#include <ipc/version.h>

#ifdef HAVE_ZMQ
#include <zmq.h>
#endif
#ifdef HAVE_NNG
#include <nng/nng.h>
#include <nng/protocol/pair1/pair.h>
#endif
#ifdef HAVE_OPENSSL
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif

#define MAX_MSG       (64u << 10)
#define BUF_SIZE      (MAX_MSG + 64)
#define WATCHDOG_S    20            /* no single step may take longer */
#define LAT_MAX       1000000       /* latency samples kept per measurement */
#define STREAM_MAX    100000000u    /* messages in one stream, at most */
#define SHM_SLOTS     16            /* textbook ring: slots of one message each */
#define SHM_SLOT_SIZE (4 + MAX_MSG)
#define SPIN_CAP      (1u << 20)    /* busy-poll ring bytes per direction */

static const size_t sizes[] = { 64, 4096, 65536 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* ------------------------------------------------------------ settings */

static struct {
	int quick, json, same_cpu;
	char **only;
	int nonly;
	int cpu_a, cpu_b, ncpu;
	double lat_budget, tput_budget;   /* seconds per measurement */
	long lat_min, tput_min;
	char dir[256];                    /* mkdtemp: FIFOs and sockets live here */
} cfg;

static volatile sig_atomic_t timed_out;
static volatile pid_t child_pid, measurer_pid;

/* Every name a row may create, for an interrupted run to remove. */
static const char *const dir_names[] = {
	"lib-p2c.fifo", "lib-c2p.fifo", "raw-p2c.fifo", "raw-c2p.fifo",
	"lib.sock", "raw.sock", "zmq.sock", "nng.sock", "tls.pem", "tls.key",
};

/* Async-signal-safe: unlink what process @p pid may have left. */
static void
remove_names(pid_t pid)
{
	char path[512], num[16];
	size_t i, dl = strlen(cfg.dir), k = sizeof(num);
	unsigned v = (unsigned)pid;

	for (i = 0; i < sizeof(dir_names) / sizeof(dir_names[0]) && dl && dl < 400; i++) {
		memcpy(path, cfg.dir, dl);
		path[dl] = '/';
		strcpy(path + dl + 1, dir_names[i]);
		unlink(path);
	}
	num[--k] = '\0';
	do
		num[--k] = (char)('0' + v % 10);
	while ((v /= 10) && k);
	strcpy(path, "/dev/shm/ipc-bench-");
	strcat(path, num + k);
	strcat(path, "-lib");
	unlink(path);
}

static void
on_terminate(int sig)
{
	if (child_pid > 0)
		kill(child_pid, SIGKILL);
	if (measurer_pid > 0) {
		kill(measurer_pid, SIGKILL);
		remove_names(measurer_pid);
	}
	remove_names(getpid());
	if (cfg.dir[0])
		rmdir(cfg.dir);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
	if (child_pid > 0)
		kill(child_pid, SIGKILL);
}

static void
watchdog(unsigned s)
{
	timed_out = 0;
	alarm(s);
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
progress(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

static void
put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t
get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("pause");
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* A busy-wait step: spin, and every few microseconds give the CPU away so a
 * peer on the same CPU can run. @return -ETIMEDOUT once the watchdog fired. */
static int
spin_step(unsigned *n)
{
	cpu_relax();
	if ((++*n & 255) == 0) {
		if (timed_out)
			return -ETIMEDOUT;
		sched_yield();
	}
	return 0;
}

static int
pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

/* ------------------------------------------------------------ endpoints */

struct ep;

struct ep_ops {
	int     (*send)(struct ep *e, const void *buf, size_t len);   /* 0 or -errno */
	ssize_t (*recv)(struct ep *e, void *buf, size_t cap);         /* length or -errno */
	void    (*close)(struct ep *e);
};

struct sem_ring {                 /* textbook bounded buffer */
	sem_t full, empty;
	unsigned char slot[SHM_SLOTS][SHM_SLOT_SIZE];
};

struct spin_ring {                /* single producer, single consumer */
	_Alignas(64) _Atomic uint64_t head;
	_Alignas(64) _Atomic uint64_t tail;
	_Alignas(64) unsigned char data[SPIN_CAP];
};

struct ep {
	const struct ep_ops *ops;
	int rfd, wfd;
	ipc_channel *tx, *rx;
	struct sem_ring *sin, *sout;
	struct spin_ring *pin, *pout;
	uint64_t rpos, wpos;          /* this side's private ring indexes */
	uint64_t seen_head, seen_tail; /* the peer's, as last read: fewer shared loads */
	void *zctx, *zsock;
	void *ssl;                    /* bare OpenSSL baseline: its SSL */
#ifdef HAVE_NNG
	nng_socket ns;
#endif
};

/* --- raw descriptors: writev(header, payload), blocking read loops --- */

static int
raw_send(struct ep *e, const void *buf, size_t len)
{
	unsigned char hdr[4];
	struct iovec iov[2] = { { hdr, 4 }, { (void *)buf, len } };
	struct iovec *v = iov;
	int n = len ? 2 : 1;
	ssize_t r;

	put_be32(hdr, (uint32_t)len);
	while (n) {
		r = writev(e->wfd, v, n);
		if (r < 0) {
			if (errno == EINTR && !timed_out)
				continue;
			return errno == EINTR ? -ETIMEDOUT : -errno;
		}
		while (n && (size_t)r >= v->iov_len) {
			r -= (ssize_t)v->iov_len;
			v++;
			n--;
		}
		if (n) {
			v->iov_base = (char *)v->iov_base + r;
			v->iov_len -= (size_t)r;
		}
	}
	return 0;
}

static int
read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t r;

	while (got < len) {
		r = read(fd, (char *)buf + got, len - got);
		if (r > 0) {
			got += (size_t)r;
		} else if (r == 0) {
			return -EPIPE;
		} else if (errno != EINTR || timed_out) {
			return errno == EINTR ? -ETIMEDOUT : -errno;
		}
	}
	return 0;
}

static ssize_t
raw_recv(struct ep *e, void *buf, size_t cap)
{
	unsigned char hdr[4];
	uint32_t len;
	int rc;

	if ((rc = read_full(e->rfd, hdr, 4)) < 0)
		return rc;
	if ((len = get_be32(hdr)) > cap)
		return -EMSGSIZE;
	if ((rc = read_full(e->rfd, buf, len)) < 0)
		return rc;
	return len;
}

static void
raw_close(struct ep *e)
{
	if (e->rfd >= 0)
		close(e->rfd);
	if (e->wfd >= 0 && e->wfd != e->rfd)
		close(e->wfd);
	e->rfd = e->wfd = -1;
}

static const struct ep_ops raw_ops = { raw_send, raw_recv, raw_close };

/* --- libipc --- */

static int
lib_send(struct ep *e, const void *buf, size_t len)
{
	ssize_t r = ipc_send(e->tx, buf, len, -1);

	return r < 0 ? (int)r : 0;
}

static ssize_t
lib_recv(struct ep *e, void *buf, size_t cap)
{
	return ipc_recv(e->rx, buf, cap, -1);
}

static void
lib_close(struct ep *e)
{
	if (e->rx != e->tx)
		ipc_close(e->rx);
	ipc_close(e->tx);
	e->rx = e->tx = NULL;
}

static const struct ep_ops lib_ops = { lib_send, lib_recv, lib_close };

/* --- shared memory + process-shared semaphores, the textbook way --- */

static int
sem_wait_bounded(sem_t *s)
{
	while (sem_wait(s) < 0) {
		if (errno != EINTR)
			return -errno;
		if (timed_out)
			return -ETIMEDOUT;
	}
	return 0;
}

static int
semr_send(struct ep *e, const void *buf, size_t len)
{
	unsigned char *slot;
	int rc;

	if (len > MAX_MSG)
		return -EMSGSIZE;
	if ((rc = sem_wait_bounded(&e->sout->empty)) < 0)
		return rc;
	slot = e->sout->slot[e->wpos++ % SHM_SLOTS];
	put_be32(slot, (uint32_t)len);
	memcpy(slot + 4, buf, len);
	sem_post(&e->sout->full);
	return 0;
}

static ssize_t
semr_recv(struct ep *e, void *buf, size_t cap)
{
	unsigned char *slot;
	uint32_t len;
	int rc;

	if ((rc = sem_wait_bounded(&e->sin->full)) < 0)
		return rc;
	slot = e->sin->slot[e->rpos++ % SHM_SLOTS];
	len = get_be32(slot);
	if (len > cap || len > MAX_MSG)
		return -EMSGSIZE;
	memcpy(buf, slot + 4, len);
	sem_post(&e->sin->empty);
	return len;
}

static void
shm_ep_close(struct ep *e)
{
	(void)e;        /* the mapping belongs to the run */
}

static const struct ep_ops semr_ops = { semr_send, semr_recv, shm_ep_close };

/* --- busy-polling SPSC byte ring: the floor --- */

static void
ring_put(struct spin_ring *r, uint64_t pos, const void *src, size_t len)
{
	size_t off = (size_t)(pos % SPIN_CAP), first = SPIN_CAP - off;

	if (first >= len) {
		memcpy(r->data + off, src, len);
	} else {
		memcpy(r->data + off, src, first);
		memcpy(r->data, (const char *)src + first, len - first);
	}
}

static void
ring_get(const struct spin_ring *r, uint64_t pos, void *dst, size_t len)
{
	size_t off = (size_t)(pos % SPIN_CAP), first = SPIN_CAP - off;

	if (first >= len) {
		memcpy(dst, r->data + off, len);
	} else {
		memcpy(dst, r->data + off, first);
		memcpy((char *)dst + first, r->data, len - first);
	}
}

static int
spin_send(struct ep *e, const void *buf, size_t len)
{
	struct spin_ring *r = e->pout;
	size_t need = (4 + len + 7) & ~(size_t)7;
	unsigned char hdr[4];
	unsigned n = 0;
	int rc;

	while (SPIN_CAP - (e->wpos - e->seen_tail) < need) {
		e->seen_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (SPIN_CAP - (e->wpos - e->seen_tail) >= need)
			break;
		if ((rc = spin_step(&n)) < 0)
			return rc;
	}
	put_be32(hdr, (uint32_t)len);
	ring_put(r, e->wpos, hdr, 4);
	ring_put(r, e->wpos + 4, buf, len);
	e->wpos += need;
	atomic_store_explicit(&r->head, e->wpos, memory_order_release);
	return 0;
}

static ssize_t
spin_recv(struct ep *e, void *buf, size_t cap)
{
	struct spin_ring *r = e->pin;
	unsigned char hdr[4];
	unsigned n = 0;
	uint32_t len;
	int rc;

	while (e->seen_head == e->rpos) {
		e->seen_head = atomic_load_explicit(&r->head, memory_order_acquire);
		if (e->seen_head != e->rpos)
			break;
		if ((rc = spin_step(&n)) < 0)
			return rc;
	}
	ring_get(r, e->rpos, hdr, 4);
	if ((len = get_be32(hdr)) > cap)
		return -EMSGSIZE;
	ring_get(r, e->rpos + 4, buf, len);
	e->rpos += (4 + len + 7) & ~(uint64_t)7;
	atomic_store_explicit(&r->tail, e->rpos, memory_order_release);
	return len;
}

static const struct ep_ops spin_ops = { spin_send, spin_recv, shm_ep_close };

/* --- libzmq PAIR --- */

#ifdef HAVE_ZMQ
static int
zmq_ep_send(struct ep *e, const void *buf, size_t len)
{
	while (zmq_send(e->zsock, buf, len, 0) < 0) {
		if (zmq_errno() != EINTR || timed_out)
			return zmq_errno() == EAGAIN || zmq_errno() == EINTR ? -ETIMEDOUT : -zmq_errno();
	}
	return 0;
}

static ssize_t
zmq_ep_recv(struct ep *e, void *buf, size_t cap)
{
	int n;

	while ((n = zmq_recv(e->zsock, buf, cap, 0)) < 0) {
		if (zmq_errno() != EINTR || timed_out)
			return zmq_errno() == EAGAIN || zmq_errno() == EINTR ? -ETIMEDOUT : -zmq_errno();
	}
	return (size_t)n > cap ? -EMSGSIZE : n;
}

static void
zmq_ep_close(struct ep *e)
{
	if (e->zsock)
		zmq_close(e->zsock);
	if (e->zctx)
		zmq_ctx_term(e->zctx);
	e->zsock = e->zctx = NULL;
}

static const struct ep_ops zmq_ops = { zmq_ep_send, zmq_ep_recv, zmq_ep_close };
#endif

/* --- nng pair1 --- */

#ifdef HAVE_NNG
static int
nng_err(int rv)
{
	switch (rv) {
	case NNG_ETIMEDOUT:    return -ETIMEDOUT;
	case NNG_ECLOSED:      return -EPIPE;
	case NNG_ENOMEM:       return -ENOMEM;
	case NNG_ECONNREFUSED: return -ECONNREFUSED;
	default:               return -EIO;
	}
}

static int
nng_ep_send(struct ep *e, const void *buf, size_t len)
{
	int rv = nng_send(e->ns, (void *)buf, len, 0);

	return rv ? nng_err(rv) : 0;
}

static ssize_t
nng_ep_recv(struct ep *e, void *buf, size_t cap)
{
	size_t sz = cap;
	int rv = nng_recv(e->ns, buf, &sz, 0);

	return rv ? nng_err(rv) : (ssize_t)sz;
}

static void
nng_ep_close(struct ep *e)
{
	nng_close(e->ns);
}

static const struct ep_ops nng_ops = { nng_ep_send, nng_ep_recv, nng_ep_close };
#endif

/* ------------------------------------------------------------ rows */

/* Everything one row sets up before fork and tears down after. */
struct run {
	const struct impl *im;
	ipc_channel *ch[4];
	ipc_listener *lst;
	int fd[4];
	int lfd;                   /* raw listening socket */
	int rv[2];                 /* rendezvous pipe: parent -> child (endpoint names) */
	char uri[512];
	char path[2][300];
	void *map;
	size_t map_len;
};

struct impl {
	const char *transport;     /* pipe, fifo, fd, tcp, unix, shm */
	const char *impl;          /* libipc, raw, raw-sem, raw-spin, zmq, nng */
	const char *base;          /* the raw impl of the same transport its ratio is against */
	int  (*prepare)(struct run *r);                      /* parent, before fork */
	int  (*attach)(struct run *r, int child, struct ep *e);
	void (*cleanup)(struct run *r);                      /* parent, child reaped */
	const char *note;
};

static int
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	return 0;
}

static void
ep_init(struct ep *e, const struct ep_ops *ops)
{
	memset(e, 0, sizeof(*e));
	e->ops = ops;
	e->rfd = e->wfd = -1;
}

static void
dir_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", cfg.dir, name);
}

/* --- pipe --- */

static int
pipe_lib_prepare(struct run *r)
{
	int rc;

	if ((rc = ipc_pipe(&r->ch[0], 0)) < 0)          /* parent -> child */
		return rc;
	return ipc_pipe(&r->ch[2], 0);                 /* child -> parent */
}

static int
pipe_lib_attach(struct run *r, int child, struct ep *e)
{
	ep_init(e, &lib_ops);
	if (child) {
		ipc_close(r->ch[1]);
		ipc_close(r->ch[2]);
		e->rx = r->ch[0];
		e->tx = r->ch[3];
	} else {
		ipc_close(r->ch[0]);
		ipc_close(r->ch[3]);
		e->rx = r->ch[2];
		e->tx = r->ch[1];
	}
	memset(r->ch, 0, sizeof(r->ch));
	return 0;
}

static int
pipe_raw_prepare(struct run *r)
{
	if (pipe2(r->fd, O_CLOEXEC) < 0 || pipe2(r->fd + 2, O_CLOEXEC) < 0)
		return -errno;
	return 0;
}

static int
pipe_raw_attach(struct run *r, int child, struct ep *e)
{
	ep_init(e, &raw_ops);
	if (child) {
		close_fd(&r->fd[1]);
		close_fd(&r->fd[2]);
		e->rfd = r->fd[0];
		e->wfd = r->fd[3];
	} else {
		close_fd(&r->fd[0]);
		close_fd(&r->fd[3]);
		e->rfd = r->fd[2];
		e->wfd = r->fd[1];
	}
	r->fd[0] = r->fd[1] = r->fd[2] = r->fd[3] = -1;
	return 0;
}

/* --- fd: a pipe handed over as descriptors, as after dup2 + exec --- */

static int
fd_lib_attach(struct run *r, int child, struct ep *e)
{
	char uri[64];
	int rc;

	ep_init(e, &lib_ops);
	if (child) {
		close_fd(&r->fd[1]);
		close_fd(&r->fd[2]);
		snprintf(uri, sizeof(uri), "fd:%d,%d", r->fd[0], r->fd[3]);
	} else {
		close_fd(&r->fd[0]);
		close_fd(&r->fd[3]);
		snprintf(uri, sizeof(uri), "fd:%d,%d", r->fd[2], r->fd[1]);
	}
	if ((rc = ipc_open(&e->tx, uri, IPC_SEND | IPC_RECV, NULL)) < 0)
		return rc;
	e->rx = e->tx;
	r->fd[0] = r->fd[1] = r->fd[2] = r->fd[3] = -1;   /* the channel owns them */
	return 0;
}

static void
fd_cleanup(struct run *r)
{
	int i;

	for (i = 0; i < 4; i++)
		close_fd(&r->fd[i]);
}

/* --- fifo --- */

static int
fifo_lib_prepare(struct run *r)
{
	static const ipc_options o = { .size = sizeof(o), .open_timeout_ms = 10000 };

	dir_path(r->path[0], sizeof(r->path[0]), "lib-p2c.fifo");
	dir_path(r->path[1], sizeof(r->path[1]), "lib-c2p.fifo");
	snprintf(r->uri, sizeof(r->uri), "fifo:%s", r->path[1]);
	/* The parent reads child -> parent: a reader opens at once. */
	return ipc_open(&r->ch[0], r->uri, IPC_RECV | IPC_CREATE, &o);
}

static int
fifo_lib_attach(struct run *r, int child, struct ep *e)
{
	static const ipc_options o = { .size = sizeof(o), .open_timeout_ms = 10000 };
	char uri[320];
	int64_t end = now_ns() + 10000000000LL;
	int rc;

	ep_init(e, &lib_ops);
	snprintf(uri, sizeof(uri), "fifo:%s", r->path[0]);
	if (child) {
		ipc_close(r->ch[0]);        /* the parent's: closing our copy leaves it be */
		if ((rc = ipc_open(&e->rx, uri, IPC_RECV | IPC_CREATE, &o)) < 0)
			return rc;
		return ipc_open(&e->tx, r->uri, IPC_SEND, &o);
	}
	e->rx = r->ch[0];
	r->ch[0] = NULL;
	/* The child creates parent -> child; wait for it to appear. */
	while ((rc = ipc_open(&e->tx, uri, IPC_SEND, &o)) == -ENOENT && now_ns() < end &&
	       !timed_out)
		usleep(500);
	return rc;
}

static int
fifo_raw_prepare(struct run *r)
{
	dir_path(r->path[0], sizeof(r->path[0]), "raw-p2c.fifo");
	dir_path(r->path[1], sizeof(r->path[1]), "raw-c2p.fifo");
	if (mkfifo(r->path[0], 0600) < 0)
		return -errno;
	if (mkfifo(r->path[1], 0600) < 0)
		return -errno;
	return 0;
}

static int
open_path(const char *path, int flags)
{
	int fd;

	while ((fd = open(path, flags | O_CLOEXEC)) < 0)
		if (errno != EINTR || timed_out)
			return errno == EINTR ? -ETIMEDOUT : -errno;
	return fd;
}

static int
fifo_raw_attach(struct run *r, int child, struct ep *e)
{
	ep_init(e, &raw_ops);
	/* Both sides open parent -> child first, so the blocking opens pair up. */
	if (child) {
		if ((e->rfd = open_path(r->path[0], O_RDONLY)) < 0)
			return e->rfd;
		if ((e->wfd = open_path(r->path[1], O_WRONLY)) < 0)
			return e->wfd;
	} else {
		if ((e->wfd = open_path(r->path[0], O_WRONLY)) < 0)
			return e->wfd;
		if ((e->rfd = open_path(r->path[1], O_RDONLY)) < 0)
			return e->rfd;
	}
	return 0;
}

static void
fifo_cleanup(struct run *r)
{
	int i;

	for (i = 0; i < 2; i++)
		if (r->path[i][0])
			unlink(r->path[i]);
}

/* --- sockets through libipc listeners: tcp, unix --- */

static int
listen_lib(struct run *r, const char *uri)
{
	int rc;

	if ((rc = ipc_listen(&r->lst, uri, 0, NULL)) < 0)
		return rc;
	rc = ipc_listener_addr(r->lst, r->uri, sizeof(r->uri));
	return rc < 0 ? rc : 0;
}

static int
tcp_lib_prepare(struct run *r)
{
	return listen_lib(r, "tcp://127.0.0.1:0");
}

static int
unix_lib_prepare(struct run *r)
{
	char uri[320];

	dir_path(r->path[0], sizeof(r->path[0]), "lib.sock");
	snprintf(uri, sizeof(uri), "unix:%s", r->path[0]);
	return listen_lib(r, uri);
}

static int
sock_lib_attach(struct run *r, int child, struct ep *e)
{
	static const ipc_options o = { .size = sizeof(o), .open_timeout_ms = 10000 };
	int rc;

	ep_init(e, &lib_ops);
	if (child)
		rc = ipc_open(&e->tx, r->uri, IPC_SEND | IPC_RECV, &o);
	else
		rc = ipc_accept(r->lst, &e->tx, 10000);
	e->rx = e->tx;
	return rc;
}

static void
sock_lib_cleanup(struct run *r)
{
	ipc_listener_close(r->lst);
	r->lst = NULL;
	if (r->path[0][0])
		unlink(r->path[0]);     /* only if the driver left it */
}

/* --- raw sockets: socket/bind/listen/accept/connect, TCP_NODELAY --- */

union sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_un un;
};

static int
sock_raw_listen(struct run *r, int family)
{
	union sa a;
	socklen_t alen;

	memset(&a, 0, sizeof(a));
	if (family == AF_INET) {
		a.in.sin_family = AF_INET;
		a.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		alen = sizeof(a.in);
	} else {
		a.un.sun_family = AF_UNIX;
		dir_path(r->path[0], sizeof(r->path[0]), "raw.sock");
		if (strlen(r->path[0]) >= sizeof(a.un.sun_path))
			return -ENAMETOOLONG;
		strcpy(a.un.sun_path, r->path[0]);
		alen = sizeof(a.un);
	}
	if ((r->lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	if (bind(r->lfd, &a.sa, alen) < 0 || listen(r->lfd, 4) < 0)
		return -errno;
	if (getsockname(r->lfd, &a.sa, &alen) < 0)
		return -errno;
	memcpy(r->uri, &a, sizeof(a) < sizeof(r->uri) ? sizeof(a) : sizeof(r->uri));
	return 0;
}

static int
tcp_raw_prepare(struct run *r)
{
	return sock_raw_listen(r, AF_INET);
}

static int
unix_raw_prepare(struct run *r)
{
	return sock_raw_listen(r, AF_UNIX);
}

static int
sock_raw_attach(struct run *r, int child, struct ep *e)
{
	union sa a;
	int fd, one = 1;

	ep_init(e, &raw_ops);
	memcpy(&a, r->uri, sizeof(a));
	if (child) {
		close_fd(&r->lfd);
		if ((fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return -errno;
		while (connect(fd, &a.sa, a.sa.sa_family == AF_INET ? sizeof(a.in) : sizeof(a.un)) < 0) {
			if (errno != EINTR || timed_out) {
				int rc = -errno;

				close(fd);
				return rc;
			}
		}
	} else {
		while ((fd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			if (errno != EINTR || timed_out)
				return errno == EINTR ? -ETIMEDOUT : -errno;
	}
	if (a.sa.sa_family == AF_INET &&
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
		close(fd);
		return -errno;
	}
	e->rfd = e->wfd = fd;
	return 0;
}

static void
sock_raw_cleanup(struct run *r)
{
	close_fd(&r->lfd);
	if (r->path[0][0])
		unlink(r->path[0]);
}

/* --- shm --- */

static int
shm_lib_prepare(struct run *r)
{
	snprintf(r->uri, sizeof(r->uri), "shm:/ipc-bench-%d-lib", (int)getpid());
	return ipc_open(&r->ch[0], r->uri, IPC_SEND | IPC_RECV | IPC_CREATE, NULL);
}

static int
shm_lib_attach(struct run *r, int child, struct ep *e)
{
	static const ipc_options o = { .size = sizeof(o), .open_timeout_ms = 10000 };
	int rc;

	ep_init(e, &lib_ops);
	if (child) {
		ipc_close(r->ch[0]);        /* the creator's: our copy only unmaps */
		r->ch[0] = NULL;
		rc = ipc_open(&e->tx, r->uri, IPC_SEND | IPC_RECV, &o);
		e->rx = e->tx;
		return rc;
	}
	e->tx = e->rx = r->ch[0];
	r->ch[0] = NULL;
	return 0;
}

/* The seed's flow: shm_open -> ftruncate -> mmap; the name is removed as soon
 * as the mapping exists (the child inherits it), so nothing can be left behind. */
static int
shm_raw_map(struct run *r, size_t len)
{
	char name[64];
	int fd, rc = 0;

	snprintf(name, sizeof(name), "/ipc-bench-%d-raw", (int)getpid());
	if ((fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return -errno;
	if ((rc = posix_fallocate(fd, 0, (off_t)len)) != 0)
		rc = -rc;      /* memory reserved now: a full /dev/shm fails here, not later */
	else if ((r->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		r->map = NULL;
		rc = -errno;
	}
	shm_unlink(name);
	close(fd);
	r->map_len = len;
	return rc;
}

static int
shm_sem_prepare(struct run *r)
{
	struct sem_ring *s;
	int rc, i;

	if ((rc = shm_raw_map(r, 2 * sizeof(struct sem_ring))) < 0)
		return rc;
	s = r->map;
	for (i = 0; i < 2; i++)
		if (sem_init(&s[i].full, 1, 0) < 0 || sem_init(&s[i].empty, 1, SHM_SLOTS) < 0)
			return -errno;
	return 0;
}

/* Touch every page of the mapping in this process, so that no page fault
 * lands inside a measurement: each process maps a shared page on first use. */
static void
prefault(struct run *r)
{
	volatile unsigned char *m = r->map;
	size_t i;

	for (i = 0; i < r->map_len; i += 4096)
		(void)m[i];
}

static int
shm_sem_attach(struct run *r, int child, struct ep *e)
{
	struct sem_ring *s = r->map;

	prefault(r);
	ep_init(e, &semr_ops);
	e->sout = &s[child];
	e->sin = &s[!child];
	return 0;
}

static int
shm_spin_prepare(struct run *r)
{
	return shm_raw_map(r, 2 * sizeof(struct spin_ring));
}

static int
shm_spin_attach(struct run *r, int child, struct ep *e)
{
	struct spin_ring *s = r->map;

	prefault(r);
	ep_init(e, &spin_ops);
	e->pout = &s[child];
	e->pin = &s[!child];
	return 0;
}

static void
shm_raw_cleanup(struct run *r)
{
	struct sem_ring *s = r->map;

	if (!r->map)
		return;
	if (r->im->prepare == shm_sem_prepare) {
		sem_destroy(&s[0].full);
		sem_destroy(&s[0].empty);
		sem_destroy(&s[1].full);
		sem_destroy(&s[1].empty);
	}
	munmap(r->map, r->map_len);
	r->map = NULL;
}

static void
no_cleanup(struct run *r)
{
	int i;

	for (i = 0; i < 4; i++)
		if (r->ch[i])
			ipc_close(r->ch[i]);
}

/* --- libzmq and nng: the parent binds, then tells the child where --- */

static int
rv_send(struct run *r, const char *s)
{
	size_t len = strlen(s) + 1;

	return write(r->rv[1], s, len) == (ssize_t)len ? 0 : -EIO;
}

static int
rv_recv(struct run *r, char *out, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap) {
		n = read(r->rv[0], out + got, cap - got);
		if (n <= 0)
			return n == 0 ? -EPIPE : -errno;
		got += (size_t)n;
		if (out[got - 1] == '\0')
			return 0;
	}
	return -EMSGSIZE;
}

static int
mq_prepare(struct run *r)
{
	if (strcmp(r->im->transport, "unix") == 0) {
		dir_path(r->path[0], sizeof(r->path[0]), r->im->impl);
		strcat(r->path[0], ".sock");
	}
	return 0;
}

#ifdef HAVE_ZMQ
static int
zmq_attach(struct run *r, int child, struct ep *e)
{
	char ep_name[512];
	size_t len = sizeof(ep_name);
	int tmo = 10000, zero = 0, rc;

	ep_init(e, &zmq_ops);
	if (!(e->zctx = zmq_ctx_new()) || !(e->zsock = zmq_socket(e->zctx, ZMQ_PAIR)))
		return -zmq_errno();
	zmq_setsockopt(e->zsock, ZMQ_RCVTIMEO, &tmo, sizeof(tmo));
	zmq_setsockopt(e->zsock, ZMQ_SNDTIMEO, &tmo, sizeof(tmo));
	zmq_setsockopt(e->zsock, ZMQ_LINGER, &zero, sizeof(zero));
	if (child) {
		if ((rc = rv_recv(r, ep_name, sizeof(ep_name))) < 0)
			return rc;
		return zmq_connect(e->zsock, ep_name) < 0 ? -zmq_errno() : 0;
	}
	if (r->path[0][0])
		snprintf(ep_name, sizeof(ep_name), "ipc://%s", r->path[0]);
	else
		snprintf(ep_name, sizeof(ep_name), "tcp://127.0.0.1:*");
	if (zmq_bind(e->zsock, ep_name) < 0)
		return -zmq_errno();
	if (zmq_getsockopt(e->zsock, ZMQ_LAST_ENDPOINT, ep_name, &len) < 0)
		return -zmq_errno();
	return rv_send(r, ep_name);
}
#endif

#ifdef HAVE_NNG
static int
nng_attach(struct run *r, int child, struct ep *e)
{
	char url[512];
	nng_listener l;
	int rv, port;

	ep_init(e, &nng_ops);
	if ((rv = nng_pair1_open(&e->ns)) != 0)
		return nng_err(rv);
	nng_socket_set_ms(e->ns, NNG_OPT_RECVTIMEO, 10000);
	nng_socket_set_ms(e->ns, NNG_OPT_SENDTIMEO, 10000);
	/* Queues of 128 messages each way, about what a pipe buffers for small
	 * messages; nng's default of 0 would make streaming a lock-step. */
	nng_socket_set_int(e->ns, NNG_OPT_RECVBUF, 128);
	nng_socket_set_int(e->ns, NNG_OPT_SENDBUF, 128);
	if (child) {
		if ((rv = rv_recv(r, url, sizeof(url))) < 0)
			return rv;
		return (rv = nng_dial(e->ns, url, NULL, 0)) ? nng_err(rv) : 0;
	}
	if (r->path[0][0])
		snprintf(url, sizeof(url), "ipc://%s", r->path[0]);
	else
		snprintf(url, sizeof(url), "tcp://127.0.0.1:0");
	if ((rv = nng_listener_create(&l, e->ns, url)) || (rv = nng_listener_start(l, 0)))
		return nng_err(rv);
	if (!r->path[0][0]) {
		if ((rv = nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port)))
			return nng_err(rv);
		snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	}
	return rv_send(r, url);
}
#endif

static void
mq_cleanup(struct run *r)
{
	if (r->path[0][0])
		unlink(r->path[0]);
}


/* --- tls: libipc's tls+tcp:// beside bare OpenSSL over the same TCP --- */

static char tls_cert[300], tls_key[300];

#ifdef HAVE_OPENSSL
/* One self-signed certificate for 127.0.0.1 in the run's directory: the
 * listener's chain and the connector's trust anchor, for both rows. */
static int
tls_make_cert(void)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	X509_NAME *name;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	FILE *f;
	int fd, rc = -ENOMEM;

	if (tls_cert[0])
		return 0;
	dir_path(tls_cert, sizeof(tls_cert), "tls.pem");
	dir_path(tls_key, sizeof(tls_key), "tls.key");
	if (!(key = EVP_EC_gen("P-256")) || !(x = X509_new()))
		goto out;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"ipc-bench",
	                           -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	if (!(ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1")))
		goto out;
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (!X509_sign(x, key, EVP_sha256()))
		goto out;
	rc = -EIO;
	if ((fd = open(tls_key, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    !(f = fdopen(fd, "w")))
		goto out;
	if (!PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)) {
		fclose(f);
		goto out;
	}
	fclose(f);
	if (!(f = fopen(tls_cert, "w")))
		goto out;
	if (!PEM_write_X509(f, x)) {
		fclose(f);
		goto out;
	}
	fclose(f);
	rc = 0;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	ERR_clear_error();
	if (rc < 0)
		tls_cert[0] = 0;
	return rc;
}
#endif

static int
tls_lib_prepare(struct run *r)
{
#ifdef HAVE_OPENSSL
	struct ipc_tls t = IPC_TLS_INIT;
	ipc_options o = IPC_OPTIONS_INIT;
	int rc;

	if ((rc = tls_make_cert()) < 0)
		return rc;
	t.cert_file = tls_cert;
	t.key_file = tls_key;
	o.tls = &t;
	if ((rc = ipc_listen(&r->lst, "tls+tcp://127.0.0.1:0", 0, &o)) < 0)
		return rc;
	rc = ipc_listener_addr(r->lst, r->uri, sizeof(r->uri));
	return rc < 0 ? rc : 0;
#else
	(void)r;
	return -EPROTONOSUPPORT;    /* libipc built without OpenSSL: no tls+tcp:// */
#endif
}

static int
tls_lib_attach(struct run *r, int child, struct ep *e)
{
	struct ipc_tls t = IPC_TLS_INIT;
	ipc_options o = IPC_OPTIONS_INIT;
	int rc;

	ep_init(e, &lib_ops);
	t.ca_file = tls_cert;       /* the URI's host, 127.0.0.1, is checked */
	o.tls = &t;
	o.open_timeout_ms = 10000;
	if (child)
		rc = ipc_open(&e->tx, r->uri, IPC_SEND | IPC_RECV, &o);
	else
		rc = ipc_accept(r->lst, &e->tx, 10000);
	e->rx = e->tx;
	return rc;
}

#ifdef HAVE_OPENSSL
static SSL_CTX *ossl_ctx[2];    /* [0] listener, [1] connector */

/* The same framing as every raw row; the header travels in the record of
 * the payload's first bytes (as libipc gathers it), the rest in one call. */
static int
ossl_send(struct ep *e, const void *buf, size_t len)
{
	static unsigned char rec[16384];
	size_t first = len < sizeof(rec) - 4 ? len : sizeof(rec) - 4;

	put_be32(rec, (uint32_t)len);
	memcpy(rec + 4, buf, first);
	if (SSL_write(e->ssl, rec, (int)(first + 4)) <= 0)
		return -EIO;
	if (len > first && SSL_write(e->ssl, (const char *)buf + first, (int)(len - first)) <= 0)
		return -EIO;
	return 0;
}

static int
ossl_read_full(struct ep *e, void *buf, size_t len)
{
	size_t got = 0;
	int r;

	while (got < len) {
		r = SSL_read(e->ssl, (char *)buf + got, (int)(len - got));
		if (r <= 0)
			return timed_out ? -ETIMEDOUT : -EPIPE;
		got += (size_t)r;
	}
	return 0;
}

static ssize_t
ossl_recv(struct ep *e, void *buf, size_t cap)
{
	unsigned char hdr[4];
	uint32_t len;
	int rc;

	if ((rc = ossl_read_full(e, hdr, 4)) < 0)
		return rc;
	if ((len = get_be32(hdr)) > cap)
		return -EMSGSIZE;
	if ((rc = ossl_read_full(e, buf, len)) < 0)
		return rc;
	return len;
}

static void
ossl_close(struct ep *e)
{
	SSL_free(e->ssl);
	e->ssl = NULL;
	raw_close(e);
}

static const struct ep_ops ossl_ops = { ossl_send, ossl_recv, ossl_close };

/* What libipc sets up, by hand: TLS 1.3, verification, no tickets, reads
 * of whole socket buffers. */
static int
ossl_prepare(struct run *r)
{
	int i, rc;

	if ((rc = tls_make_cert()) < 0)
		return rc;
	for (i = 0; i < 2; i++) {
		if (ossl_ctx[i])
			continue;
		if (!(ossl_ctx[i] = SSL_CTX_new(i ? TLS_client_method() : TLS_server_method())))
			return -ENOMEM;
		SSL_CTX_set_min_proto_version(ossl_ctx[i], TLS1_3_VERSION);
		SSL_CTX_set_options(ossl_ctx[i], SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
		SSL_CTX_set_num_tickets(ossl_ctx[i], 0);
		SSL_CTX_set_read_ahead(ossl_ctx[i], 1);
		SSL_CTX_set_default_read_buffer_len(ossl_ctx[i], 64u << 10);
		if (i) {
			if (SSL_CTX_load_verify_locations(ossl_ctx[i], tls_cert, NULL) != 1)
				return -EINVAL;
			SSL_CTX_set_verify(ossl_ctx[i], SSL_VERIFY_PEER, NULL);
		} else if (SSL_CTX_use_certificate_file(ossl_ctx[i], tls_cert, SSL_FILETYPE_PEM) != 1 ||
		           SSL_CTX_use_PrivateKey_file(ossl_ctx[i], tls_key, SSL_FILETYPE_PEM) != 1) {
			return -EINVAL;
		}
	}
	return tcp_raw_prepare(r);
}

static int
ossl_attach(struct run *r, int child, struct ep *e)
{
	SSL *ssl;
	int rc;

	if ((rc = sock_raw_attach(r, child, e)) < 0)
		return rc;
	e->ops = &ossl_ops;
	if (!(ssl = SSL_new(ossl_ctx[child ? 1 : 0])) || SSL_set_fd(ssl, e->rfd) != 1) {
		SSL_free(ssl);
		return -ENOMEM;
	}
	e->ssl = ssl;
	if (child)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
	if ((child ? SSL_connect(ssl) : SSL_accept(ssl)) != 1) {
		ERR_clear_error();
		return -EPROTO;
	}
	return 0;
}
#endif

static void
tls_cleanup(struct run *r)
{
	sock_lib_cleanup(r);
	sock_raw_cleanup(r);
}

static const struct impl impls[] = {
	{ "pipe", "libipc", "raw", pipe_lib_prepare, pipe_lib_attach, no_cleanup, NULL },
	{ "pipe", "raw", NULL, pipe_raw_prepare, pipe_raw_attach, fd_cleanup, "pipe(2)" },
	{ "fifo", "libipc", "raw", fifo_lib_prepare, fifo_lib_attach, fifo_cleanup, NULL },
	{ "fifo", "raw", NULL, fifo_raw_prepare, fifo_raw_attach, fifo_cleanup, "mkfifo + open" },
	{ "fd", "libipc", "raw", pipe_raw_prepare, fd_lib_attach, fd_cleanup, "fd:R,W over two pipes" },
	{ "fd", "raw", NULL, pipe_raw_prepare, pipe_raw_attach, fd_cleanup, "pipe(2), as pipe/raw" },
	{ "tcp", "libipc", "raw", tcp_lib_prepare, sock_lib_attach, sock_lib_cleanup, NULL },
	{ "tcp", "raw", NULL, tcp_raw_prepare, sock_raw_attach, sock_raw_cleanup, "TCP_NODELAY" },
#ifdef HAVE_ZMQ
	{ "tcp", "zmq", "raw", mq_prepare, zmq_attach, mq_cleanup, "PAIR" },
#endif
#ifdef HAVE_NNG
	{ "tcp", "nng", "raw", mq_prepare, nng_attach, mq_cleanup, "pair1" },
#endif
	{ "unix", "libipc", "raw", unix_lib_prepare, sock_lib_attach, sock_lib_cleanup, NULL },
	{ "unix", "raw", NULL, unix_raw_prepare, sock_raw_attach, sock_raw_cleanup, "AF_UNIX stream" },
#ifdef HAVE_ZMQ
	{ "unix", "zmq", "raw", mq_prepare, zmq_attach, mq_cleanup, "PAIR over ipc://" },
#endif
#ifdef HAVE_NNG
	{ "unix", "nng", "raw", mq_prepare, nng_attach, mq_cleanup, "pair1 over ipc://" },
#endif
	{ "tls", "libipc", "openssl", tls_lib_prepare, tls_lib_attach, tls_cleanup,
	  "tls+tcp:// over loopback, TLS 1.3, P-256 certificate" },
#ifdef HAVE_OPENSSL
	{ "tls", "openssl", NULL, ossl_prepare, ossl_attach, tls_cleanup,
	  "SSL_write/SSL_read over TCP_NODELAY, same framing" },
#endif
	{ "shm", "libipc", "raw-sem", shm_lib_prepare, shm_lib_attach, no_cleanup, NULL },
	{ "shm", "raw-sem", NULL, shm_sem_prepare, shm_sem_attach, shm_raw_cleanup,
	  "shm + sem_t, 16 slots" },
	{ "shm", "raw-spin", "raw-sem", shm_spin_prepare, shm_spin_attach, shm_raw_cleanup,
	  "busy-poll SPSC ring (floor)" },
};
#define NIMPLS (sizeof(impls) / sizeof(impls[0]))

/* ------------------------------------------------------------ results */

struct result {
	const struct impl *im;
	int ok;
	size_t size;
	double p50_us, p99_us, msgs, mbs;
	long lat_n, tput_n;
};

static struct result results[NIMPLS * NSIZES];
static int nresults;

struct skip {
	const struct impl *im;
	char why[160];
};
static struct skip skips[NIMPLS];
static int nskips;
static double memcpy_mbs;
static double sig_p50_us, sig_p99_us;
static int sig_done;

static struct result *
find_result(const char *transport, const char *impl, size_t size)
{
	int i;

	for (i = 0; i < nresults; i++)
		if (results[i].ok && results[i].size == size &&
		    strcmp(results[i].im->transport, transport) == 0 &&
		    strcmp(results[i].im->impl, impl) == 0)
			return &results[i];
	return NULL;
}

/* ------------------------------------------------------------ the child */

enum { CMD_ECHO = 1, CMD_SEND, CMD_QUIT };

struct cmd {
	uint32_t op, size, count, budget_us;
};

static void __attribute__((noreturn))
child_main(struct run *r, const struct impl *im)
{
	static unsigned char buf[BUF_SIZE];
	struct cmd c;
	struct ep e;
	ssize_t n;
	uint32_t i;
	int rc;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(3);
	signal(SIGALRM, SIG_DFL);     /* the watchdog kills a stuck child */
	alarm(WATCHDOG_S);
	close_fd(&r->rv[1]);
	pin_to(cfg.cpu_b);
	memset(buf, 0x5a, sizeof(buf));
	if ((rc = im->attach(r, 1, &e)) < 0)
		_exit(2);
	for (;;) {
		alarm(WATCHDOG_S);
		n = e.ops->recv(&e, &c, sizeof(c));
		if (n != (ssize_t)sizeof(c))
			_exit(4);
		if (c.op == CMD_QUIT)
			break;
		if (c.op == CMD_ECHO) {
			while ((n = e.ops->recv(&e, buf, sizeof(buf))) > 0)
				if (e.ops->send(&e, buf, (size_t)n) < 0)
					_exit(5);
			if (n < 0)
				_exit(6);
		} else if (c.op == CMD_SEND) {
			int64_t end = now_ns() + (int64_t)c.budget_us * 1000;

			/* At least count, then until the time is up (the clock
			 * read every 16 messages), then the empty end marker. */
			for (i = 0; i < STREAM_MAX &&
			     (i < c.count || (i & 15) || now_ns() < end); i++)
				if (e.ops->send(&e, buf, c.size) < 0)
					_exit(7);
			if (e.ops->send(&e, buf, 0) < 0)
				_exit(7);
		}
	}
	/* Say goodbye so the parent knows every message was taken. */
	e.ops->send(&e, &c, sizeof(c));
	e.ops->close(&e);
	_exit(0);
}

/* ------------------------------------------------------------ measuring */

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int
send_cmd(struct ep *e, uint32_t op, uint32_t size, uint32_t count, uint32_t budget_us)
{
	struct cmd c = { op, size, count, budget_us };

	return e->ops->send(e, &c, sizeof(c));
}

static int
measure_latency(struct ep *e, size_t size, struct result *res, int64_t *lat)
{
	static unsigned char out[BUF_SIZE], in[BUF_SIZE];
	int64_t t0, end, hard_end;
	long i, n = 0;
	ssize_t r;
	int rc;

	memset(out, 0xa5, size);
	if ((rc = send_cmd(e, CMD_ECHO, 0, 0, 0)) < 0)
		return rc;
	for (i = 0; i < 20; i++) {              /* warm-up */
		if ((rc = e->ops->send(e, out, size)) < 0)
			return rc;
		if ((r = e->ops->recv(e, in, sizeof(in))) < 0)
			return (int)r;
	}
	/* For the budget, and on until lat_min samples; but a machine too busy
	 * to give lat_min in four budgets gets what it gave (at least 50). */
	end = now_ns() + (int64_t)(cfg.lat_budget * 1e9);
	hard_end = end + (int64_t)(3 * cfg.lat_budget * 1e9);
	while (n < LAT_MAX && (t0 = now_ns()) &&
	       (t0 < end || (n < cfg.lat_min && (t0 < hard_end || n < 50)))) {
		if ((rc = e->ops->send(e, out, size)) < 0)
			return rc;
		if ((r = e->ops->recv(e, in, sizeof(in))) < 0)
			return (int)r;
		lat[n++] = now_ns() - t0;
		if ((size_t)r != size || in[size - 1] != 0xa5)
			return -EBADMSG;
	}
	if ((rc = e->ops->send(e, out, 0)) < 0)  /* empty message: echo ends */
		return rc;
	qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
	res->p50_us = lat[n / 2] / 1e3;
	res->p99_us = lat[n * 99 / 100] / 1e3;
	res->lat_n = n;
	return 0;
}

/* The child streams messages of @p size for the budget (at least @p min of
 * them), then an empty one. Rate: from the arrival of the first to the
 * arrival of the end marker, which follows the last at once. */
static int
stream(struct ep *e, size_t size, long min, double budget, long *count, double *secs)
{
	static unsigned char in[BUF_SIZE];
	int64_t t0 = 0;
	ssize_t r;
	long n = 0;
	int rc;

	if ((rc = send_cmd(e, CMD_SEND, (uint32_t)size, (uint32_t)min,
	                   (uint32_t)(budget * 1e6))) < 0)
		return rc;
	for (;;) {
		if ((r = e->ops->recv(e, in, sizeof(in))) < 0)
			return (int)r;
		if (r == 0)
			break;
		if ((size_t)r != size)
			return -EBADMSG;
		if (n++ == 0)
			t0 = now_ns();
	}
	*secs = (now_ns() - t0) / 1e9;
	*count = n;
	return n < min ? -EBADMSG : 0;
}

static int
measure_tput(struct ep *e, size_t size, struct result *res)
{
	double secs;
	long n;
	int rc;

	if ((rc = stream(e, size, 64, 0, &n, &secs)) < 0)       /* warm-up */
		return rc;
	if ((rc = stream(e, size, cfg.tput_min, cfg.tput_budget, &n, &secs)) < 0)
		return rc;
	res->msgs = secs > 0 ? n / secs : 0;
	res->mbs = res->msgs * (double)size / 1e6;
	res->tput_n = n;
	return 0;
}

static void
add_skip(const struct impl *im, const char *why)
{
	skips[nskips].im = im;
	snprintf(skips[nskips].why, sizeof(skips[nskips].why), "%s", why);
	nskips++;
	progress(" skipped: %s", why);
}

/* Reap the child within a bound: ask, wait, then kill. */
static int
reap(pid_t pid)
{
	int64_t end = now_ns() + 5000000000LL;
	int status;
	pid_t w;

	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (now_ns() > end) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			break;
		}
		usleep(1000);
	}
	child_pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void
run_impl(const struct impl *im, int64_t *lat)
{
	struct run r;
	struct ep e;
	char why[160];
	int rc, st, i, first = nresults;
	size_t k;
	pid_t pid;

	memset(&r, 0, sizeof(r));
	r.im = im;
	r.lfd = r.rv[0] = r.rv[1] = -1;
	for (i = 0; i < 4; i++)
		r.fd[i] = -1;
	progress("%s/%s:", im->transport, im->impl);
	if (pipe2(r.rv, O_CLOEXEC) < 0) {
		add_skip(im, strerror(errno));
		return;
	}
	watchdog(WATCHDOG_S);
	rc = im->prepare(&r);
	if (rc == -EPROTONOSUPPORT) {
		add_skip(im, "driver not built");
		goto out;
	}
	if (rc < 0) {
		snprintf(why, sizeof(why), "set-up failed: %s", ipc_strerror(rc));
		add_skip(im, why);
		goto out;
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		add_skip(im, strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_main(&r, im);
	child_pid = pid;
	close_fd(&r.rv[0]);
	if ((rc = im->attach(&r, 0, &e)) < 0) {
		snprintf(why, sizeof(why), "connect failed: %s", ipc_strerror(rc));
		e.ops->close(&e);
		kill(pid, SIGKILL);
		reap(pid);
		add_skip(im, why);
		goto out;
	}
	for (k = 0; k < NSIZES; k++) {
		struct result *res = &results[nresults];

		memset(res, 0, sizeof(*res));
		res->im = im;
		res->size = sizes[k];
		watchdog(WATCHDOG_S);
		if ((rc = measure_latency(&e, sizes[k], res, lat)) < 0 ||
		    (rc = measure_tput(&e, sizes[k], res)) < 0)
			break;
		res->ok = 1;
		nresults++;
		progress(" %zu", sizes[k]);
	}
	if (rc >= 0) {
		struct cmd c;

		watchdog(WATCHDOG_S);
		if (send_cmd(&e, CMD_QUIT, 0, 0, 0) == 0)
			e.ops->recv(&e, &c, sizeof(c));     /* goodbye */
	} else {
		kill(pid, SIGKILL);
	}
	e.ops->close(&e);
	st = reap(pid);
	alarm(0);
	if (rc < 0) {
		nresults = first;
		snprintf(why, sizeof(why), "failed: %s%s (child status %d)", ipc_strerror(rc),
		         timed_out ? ", watchdog fired" : "", st);
		add_skip(im, why);
	} else {
		progress(" done");
	}
out:
	alarm(0);
	im->cleanup(&r);
	close_fd(&r.rv[0]);
	close_fd(&r.rv[1]);
}

static int
write_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	ssize_t r;

	while (done < len) {
		r = write(fd, (const char *)buf + done, len - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

/* Read @p len bytes within the deadline (absolute, ns). */
static int
read_until(int fd, void *buf, size_t len, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t done = 0;
	ssize_t r;
	int64_t left;

	while (done < len) {
		left = (deadline - now_ns()) / 1000000;
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return -errno;
		r = read(fd, (char *)buf + done, len - done);
		if (r == 0)
			return -EPIPE;
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		done += (size_t)r;
	}
	return 0;
}

/* Each row runs in a process of its own that forks the child and measures,
 * then reports here: libraries that start threads (nng refuses to work in a
 * child forked after it started) never touch the main process, and nothing
 * one row leaves behind can slow the next. */
static void
run_isolated(const struct impl *im, int64_t *lat)
{
	int64_t t0 = now_ns(), deadline = t0 + 4 * (int64_t)WATCHDOG_S * 1000000000;
	int p[2], n = 0, ns = 0, st;
	char why[160];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0) {
		add_skip(im, strerror(errno));
		return;
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		add_skip(im, strerror(errno));
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		close(p[0]);
		measurer_pid = 0;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		nresults = nskips = 0;
		run_impl(im, lat);
		if (write_all(p[1], &nresults, sizeof(nresults)) < 0 ||
		    write_all(p[1], results, (size_t)nresults * sizeof(results[0])) < 0 ||
		    write_all(p[1], &nskips, sizeof(nskips)) < 0 ||
		    write_all(p[1], skips, (size_t)nskips * sizeof(skips[0])) < 0)
			_exit(1);
		_exit(0);
	}
	measurer_pid = pid;
	close(p[1]);
	if (read_until(p[0], &n, sizeof(n), deadline) < 0 || n < 0 || n > (int)NSIZES ||
	    read_until(p[0], results + nresults, (size_t)n * sizeof(results[0]), deadline) < 0 ||
	    read_until(p[0], &ns, sizeof(ns), deadline) < 0 || ns < 0 || ns > 1 ||
	    read_until(p[0], skips + nskips, (size_t)ns * sizeof(skips[0]), deadline) < 0) {
		kill(pid, SIGKILL);
		n = ns = 0;
		snprintf(why, sizeof(why), "the measuring process did not report");
		add_skip(im, why);
	}
	nresults += n;
	nskips += ns;
	close(p[0]);
	st = reap(pid);
	measurer_pid = 0;
	if (st != 0 && n + ns > 0)
		progress(" [measuring process exit status %d]", st);
	progress(" (%.1f s)\n", (now_ns() - t0) / 1e9);
}

/* memcpy bandwidth: 64 KiB blocks out of a 1 MiB source, like a ring. */
static void
measure_memcpy(void)
{
	size_t src_len = 1u << 20, blk = 64u << 10, off = 0;
	unsigned char *src = malloc(src_len), *dst = malloc(blk);
	int64_t t0, end, t = 0;
	long n = 0;

	if (!src || !dst) {
		free(src);
		free(dst);
		return;
	}
	memset(src, 1, src_len);
	memset(dst, 2, blk);
	t0 = now_ns();
	end = t0 + (int64_t)(cfg.tput_budget * 1e9);
	do {
		memcpy(dst, src + off, blk);
		__asm__ __volatile__("" : : "r"(dst) : "memory");
		off = (off + blk) % src_len;
		n++;
	} while ((n & 63) || (t = now_ns()) < end);
	memcpy_mbs = (double)n * (double)blk / ((t - t0) / 1e3);
	free(src);
	free(dst);
}

/* Signals carry no data: one number for the seed's table, a sigqueue /
 * sigwaitinfo ping-pong with a real-time signal. */
static void
measure_signal(int64_t *lat)
{
	sigset_t set, old;
	siginfo_t si;
	struct timespec tmo = { 5, 0 };
	pid_t pid, parent = getpid();
	int64_t end, t0;
	long n = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &set, &old);
	progress("signal/raw:");
	if ((pid = fork()) < 0)
		goto out;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGALRM, SIG_DFL);
		alarm(WATCHDOG_S);
		pin_to(cfg.cpu_b);
		while (sigtimedwait(&set, &si, &tmo) == SIGRTMIN && si.si_value.sival_int == 1)
			sigqueue(parent, SIGRTMIN, (union sigval){ .sival_int = 1 });
		_exit(0);
	}
	child_pid = pid;
	watchdog(WATCHDOG_S);
	end = now_ns() + (int64_t)(cfg.lat_budget * 1e9);
	while (n < LAT_MAX && (n < cfg.lat_min || now_ns() < end)) {
		t0 = now_ns();
		if (sigqueue(pid, SIGRTMIN, (union sigval){ .sival_int = 1 }) < 0 ||
		    sigtimedwait(&set, &si, &tmo) != SIGRTMIN)
			break;
		lat[n++] = now_ns() - t0;
	}
	sigqueue(pid, SIGRTMIN, (union sigval){ .sival_int = 2 });
	reap(pid);
	alarm(0);
	if (n >= cfg.lat_min) {
		qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
		sig_p50_us = lat[n / 2] / 1e3;
		sig_p99_us = lat[n * 99 / 100] / 1e3;
		sig_done = 1;
	}
	progress(" done\n");
out:
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* ------------------------------------------------------------ output */

static char sys_date[64], sys_kernel[300], sys_cpu[160], sys_place[160];

static void
describe_system(void)
{
	struct utsname u;
	time_t t = time(NULL);
	FILE *f;
	char line[512];

	strftime(sys_date, sizeof(sys_date), "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
	if (uname(&u) == 0)
		snprintf(sys_kernel, sizeof(sys_kernel), "%s %s %s", u.sysname, u.release, u.machine);
	snprintf(sys_cpu, sizeof(sys_cpu), "unknown");
	if ((f = fopen("/proc/cpuinfo", "r"))) {
		while (fgets(line, sizeof(line), f)) {
			char *c = strchr(line, ':');

			if (strncmp(line, "model name", 10) == 0 && c) {
				c += 1 + (c[1] == ' ');
				c[strcspn(c, "\n")] = '\0';
				snprintf(sys_cpu, sizeof(sys_cpu), "%s", c);
				break;
			}
		}
		fclose(f);
	}
	if (cfg.ncpu < 2)
		snprintf(sys_place, sizeof(sys_place),
		         "one CPU available: both processes on CPU %d", cfg.cpu_a);
	else if (cfg.same_cpu)
		snprintf(sys_place, sizeof(sys_place),
		         "both processes on CPU %d (--same-cpu)", cfg.cpu_a);
	else
		snprintf(sys_place, sizeof(sys_place),
		         "parent on CPU %d, child on CPU %d (different CPUs)", cfg.cpu_a, cfg.cpu_b);
}

static const struct result *
base_of(const struct result *r)
{
	if (!r->im->base)
		return NULL;
	return find_result(r->im->transport, r->im->base, r->size);
}

static void
fmt_size(char *out, size_t cap, size_t size)
{
	if (size >= 1024)
		snprintf(out, cap, "%zu KiB", size / 1024);
	else
		snprintf(out, cap, "%zu B", size);
}

static void
print_table(void)
{
	const char *last = "";
	int i;

	printf("ipc-bench %s: libipc beside the raw system calls of each mechanism, one run\n",
	       ipc_version());
	printf("date:      %s\n", sys_date);
	printf("kernel:    %s\n", sys_kernel);
	printf("cpu:       %s (%d usable CPU%s)\n", sys_cpu, cfg.ncpu, cfg.ncpu == 1 ? "" : "s");
	printf("placement: %s\n", sys_place);
	printf("method:    ping-pong p50/p99 round trip; one-way stream, child -> parent, "
	       "first to last message;\n"
	       "           raw = same framing (4-byte big-endian length + payload), writev + "
	       "blocking read loops;\n"
	       "           MB/s = 10^6 payload bytes/s; ratio = libipc / raw (latency: p50, "
	       "throughput: msgs/s)%s\n\n", cfg.quick ? "; --quick run, few samples" : "");
	printf("%-9s %-9s %7s %9s %9s %12s %10s %9s %9s\n", "transport", "impl", "size",
	       "p50 us", "p99 us", "msgs/s", "MB/s", "lat x", "tput x");
	for (i = 0; i < nresults; i++) {
		const struct result *r = &results[i];
		const struct result *b = base_of(r);
		char sz[32], lr[32] = "", tr[32] = "";

		if (strcmp(last, r->im->transport) != 0 && i)
			printf("\n");
		last = r->im->transport;
		fmt_size(sz, sizeof(sz), r->size);
		if (b && b->p50_us > 0 && b->msgs > 0) {
			snprintf(lr, sizeof(lr), "%.2f", r->p50_us / b->p50_us);
			snprintf(tr, sizeof(tr), "%.2f", r->msgs / b->msgs);
		}
		printf("%-9s %-9s %7s %9.2f %9.2f %12.0f %10.1f %9s %9s\n", r->im->transport,
		       r->im->impl, sz, r->p50_us, r->p99_us, r->msgs, r->mbs, lr, tr);
	}
	printf("\n");
	for (i = 0; i < (int)NIMPLS; i++)
		if (impls[i].note && find_result(impls[i].transport, impls[i].impl, sizes[0]))
			printf("  %s/%s: %s\n", impls[i].transport, impls[i].impl, impls[i].note);
	for (i = 0; i < nskips; i++)
		printf("  %s/%s: not measured: %s\n", skips[i].im->transport, skips[i].im->impl,
		       skips[i].why);
	if (memcpy_mbs > 0)
		printf("  memcpy bandwidth (64 KiB blocks from a 1 MiB source): %.0f MB/s\n",
		       memcpy_mbs);
	{
		const struct result *l = find_result("shm", "libipc", 64);
		const struct result *f = find_result("shm", "raw-spin", 64);
		const struct result *b = find_result("shm", "libipc", 65536);

		if (l && f)
			printf("  shm/libipc 64 B round trip = %.2f x the busy-poll floor\n",
			       l->p50_us / f->p50_us);
		if (b && memcpy_mbs > 0)
			printf("  shm/libipc 64 KiB stream = %.0f%% of memcpy bandwidth\n",
			       100 * b->mbs / memcpy_mbs);
	}
}

static void
speed_cell(char *out, size_t cap, const char *transport, const char *pref, const char *alt)
{
	const struct result *p = find_result(transport, pref, 64);
	const struct result *a = alt ? find_result(transport, alt, 64) : NULL;
	int n;

	if (!p && !a) {
		snprintf(out, cap, "not measured");
		return;
	}
	if (!p) {
		snprintf(out, cap, "%s: %.1f us, %.0fk msg/s", alt, a->p50_us, a->msgs / 1e3);
		return;
	}
	n = snprintf(out, cap, "%s%s%.1f us, %.0fk msg/s", strcmp(pref, "libipc") ? pref : "",
	             strcmp(pref, "libipc") ? ": " : "", p->p50_us, p->msgs / 1e3);
	if (a && n > 0 && (size_t)n < cap)
		snprintf(out + n, cap - (size_t)n, " (%s %.1f us, %.0fk msg/s)", alt,
		         a->p50_us, a->msgs / 1e3);
}

static void
print_seed_table(void)
{
	char c[7][160];
	const struct result *sem = find_result("shm", "raw-sem", 64);

	speed_cell(c[0], sizeof(c[0]), "pipe", "libipc", "raw");
	speed_cell(c[1], sizeof(c[1]), "fifo", "libipc", "raw");
	speed_cell(c[2], sizeof(c[2]), "tcp", "libipc", "raw");
	speed_cell(c[3], sizeof(c[3]), "unix", "libipc", "raw");
	speed_cell(c[4], sizeof(c[4]), "shm", find_result("shm", "libipc", 64) ? "libipc" : "raw-sem",
	           find_result("shm", "libipc", 64) ? "raw-sem" : "raw-spin");
	if (sem)
		snprintf(c[5], sizeof(c[5]), "%.1f us round trip (shm+sem ping-pong)", sem->p50_us);
	else
		snprintf(c[5], sizeof(c[5]), "not measured");
	if (sig_done)
		snprintf(c[6], sizeof(c[6]), "%.1f us round trip (sigqueue + sigwaitinfo)", sig_p50_us);
	else
		snprintf(c[6], sizeof(c[6]), "not measured");

	printf("\nThe seed's comparison, with \"Speed\" measured in this run "
	       "(64 B: p50 round trip, msgs/s one way; libipc first, raw in parentheses):\n\n");
	printf("| Mechanism | Direction | Filesystem | Speed (measured) | Sync needed | Scope |\n");
	printf("|---|---|---|---|---|---|\n");
	printf("| Pipe | One-way | No | %s | No | Parent/child only |\n", c[0]);
	printf("| FIFO | One-way | Yes | %s | No | Any processes |\n", c[1]);
	printf("| Socket (TCP) | Two-way | No | %s | No | Network or local |\n", c[2]);
	printf("| Socket (Unix domain) | Two-way | Yes (or abstract) | %s | No | Local processes |\n",
	       c[3]);
	printf("| Shared Memory | Two-way | No | %s | Yes | Any processes |\n", c[4]);
	printf("| Semaphore | No data | No | %s | — | Any processes |\n", c[5]);
	printf("| Signal | No data | No | %s | No | Any processes |\n", c[6]);
}

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void
print_json(void)
{
	int i;

	printf("{\n  \"tool\": \"ipc-bench\", \"version\": ");
	json_str(ipc_version());
	printf(",\n  \"date\": ");
	json_str(sys_date);
	printf(", \"kernel\": ");
	json_str(sys_kernel);
	printf(", \"cpu\": ");
	json_str(sys_cpu);
	printf(",\n  \"cpus\": %d, \"same_cpu\": %s, \"cpu_parent\": %d, \"cpu_child\": %d, "
	       "\"quick\": %s,\n", cfg.ncpu, cfg.same_cpu || cfg.ncpu < 2 ? "true" : "false",
	       cfg.cpu_a, cfg.cpu_b, cfg.quick ? "true" : "false");
	printf("  \"memcpy_mb_per_s\": %.1f,\n", memcpy_mbs);
	if (sig_done)
		printf("  \"signal_rtt_us\": { \"p50\": %.3f, \"p99\": %.3f },\n", sig_p50_us,
		       sig_p99_us);
	printf("  \"results\": [");
	for (i = 0; i < nresults; i++) {
		const struct result *r = &results[i];
		const struct result *b = base_of(r);

		printf("%s\n    { \"transport\": ", i ? "," : "");
		json_str(r->im->transport);
		printf(", \"impl\": ");
		json_str(r->im->impl);
		printf(", \"size\": %zu, \"p50_us\": %.3f, \"p99_us\": %.3f, \"msgs_per_s\": %.0f, "
		       "\"mb_per_s\": %.2f, \"lat_samples\": %ld, \"stream_msgs\": %ld",
		       r->size, r->p50_us, r->p99_us, r->msgs, r->mbs, r->lat_n, r->tput_n);
		if (b && b->p50_us > 0 && b->msgs > 0)
			printf(", \"baseline\": \"%s\", \"lat_ratio\": %.3f, \"tput_ratio\": %.3f",
			       r->im->base, r->p50_us / b->p50_us, r->msgs / b->msgs);
		printf(" }");
	}
	printf("\n  ],\n  \"skipped\": [");
	for (i = 0; i < nskips; i++) {
		printf("%s\n    { \"transport\": ", i ? "," : "");
		json_str(skips[i].im->transport);
		printf(", \"impl\": ");
		json_str(skips[i].im->impl);
		printf(", \"reason\": ");
		json_str(skips[i].why);
		printf(" }");
	}
	printf("\n  ]\n}\n");
}

/* ------------------------------------------------------------ main */

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f,
	        "usage: ipc-bench [--quick] [--same-cpu] [--json] [--only NAME,...]\n"
	        "Measure libipc's transports beside the raw system calls doing the same work.\n"
	        "  --quick      a smoke run of about 10 s (few samples)\n"
	        "  --same-cpu   pin both processes to one CPU (default: two different CPUs)\n"
	        "  --json       print machine-readable results on stdout instead of the tables\n"
	        "  --only LIST  rows to run: transports, impls or transport/impl, e.g.\n"
	        "               --only pipe,unix   --only raw   --only shm/raw-spin,signal\n"
	        "  --help       this text\n"
	        "rows:");
	for (i = 0; i < NIMPLS; i++)
		fprintf(f, " %s/%s", impls[i].transport, impls[i].impl);
	fprintf(f, " signal/raw\n");
}

static int
selected(const char *transport, const char *impl)
{
	char full[64];
	int i;

	if (!cfg.nonly)
		return 1;
	snprintf(full, sizeof(full), "%s/%s", transport, impl);
	for (i = 0; i < cfg.nonly; i++)
		if (strcmp(cfg.only[i], transport) == 0 || strcmp(cfg.only[i], impl) == 0 ||
		    strcmp(cfg.only[i], full) == 0)
			return 1;
	return 0;
}

static int
parse_only(char *list)
{
	char *tok, *save = NULL;
	size_t i;
	int known;

	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		known = strcmp(tok, "signal") == 0 || strcmp(tok, "signal/raw") == 0;
		for (i = 0; i < NIMPLS && !known; i++) {
			char full[64];

			snprintf(full, sizeof(full), "%s/%s", impls[i].transport, impls[i].impl);
			known = strcmp(tok, impls[i].transport) == 0 ||
			        strcmp(tok, impls[i].impl) == 0 || strcmp(tok, full) == 0;
		}
		if (!known) {
			fprintf(stderr, "ipc-bench: unknown row '%s' (see --help)\n", tok);
			return -1;
		}
		cfg.only = realloc(cfg.only, (size_t)(cfg.nonly + 1) * sizeof(*cfg.only));
		if (!cfg.only)
			return -1;
		cfg.only[cfg.nonly++] = tok;
	}
	return cfg.nonly ? 0 : -1;
}

static void
pick_cpus(void)
{
	cpu_set_t set;
	int i, found = 0;

	cfg.cpu_a = cfg.cpu_b = 0;
	cfg.ncpu = 1;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	cfg.ncpu = CPU_COUNT(&set);
	for (i = 0; i < CPU_SETSIZE && found < 2; i++) {
		if (!CPU_ISSET(i, &set))
			continue;
		if (found++ == 0)
			cfg.cpu_a = cfg.cpu_b = i;
		else
			cfg.cpu_b = i;
	}
	if (cfg.same_cpu || cfg.ncpu < 2)
		cfg.cpu_b = cfg.cpu_a;
}

static void
remove_dir(void)
{
	char p[512];

	if (!cfg.dir[0])
		return;
	/* The tls rows' certificate is made in the measuring process. */
	dir_path(p, sizeof(p), "tls.pem");
	unlink(p);
	dir_path(p, sizeof(p), "tls.key");
	unlink(p);
	rmdir(cfg.dir);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "same-cpu", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "only", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sigaction sa;
	const char *tmp = getenv("TMPDIR");
	int64_t *lat, t0 = now_ns();
	size_t i;
	int c;

	while ((c = getopt_long(argc, argv, "qsjo:h", opts, NULL)) != -1) {
		switch (c) {
		case 'q': cfg.quick = 1; break;
		case 's': cfg.same_cpu = 1; break;
		case 'j': cfg.json = 1; break;
		case 'o':
			if (parse_only(optarg) < 0)
				return 2;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	/* About 17 rows x 3 sizes x 2 measurements: ~40 s by default, ~8 s quick. */
	cfg.lat_budget = cfg.quick ? 0.015 : 0.3;
	cfg.tput_budget = cfg.quick ? 0.015 : 0.3;
	cfg.lat_min = cfg.quick ? 100 : 500;
	cfg.tput_min = cfg.quick ? 50 : 300;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;    /* no SA_RESTART: a blocked read returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);    /* raw sockets and pipes: EPIPE instead */
	sa.sa_handler = on_terminate;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	pick_cpus();
	if (cfg.ncpu < 2)
		progress("ipc-bench: only one CPU available: running both processes on it\n");
	if (pin_to(cfg.cpu_a) < 0)
		progress("ipc-bench: cannot pin to CPU %d: %s\n", cfg.cpu_a, strerror(errno));
	describe_system();
	progress("ipc-bench: %s\n", sys_place);

	snprintf(cfg.dir, sizeof(cfg.dir), "%s/ipc-bench-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(cfg.dir)) {
		fprintf(stderr, "ipc-bench: mkdtemp %s: %s\n", cfg.dir, strerror(errno));
		return 1;
	}
	atexit(remove_dir);
	if (!(lat = malloc(LAT_MAX * sizeof(*lat)))) {
		fprintf(stderr, "ipc-bench: out of memory\n");
		return 1;
	}

	for (i = 0; i < NIMPLS; i++)
		if (selected(impls[i].transport, impls[i].impl))
			run_isolated(&impls[i], lat);
	if (selected("shm", "memcpy")) {
		progress("memcpy:");
		measure_memcpy();
		progress(" done\n");
	}
	if (selected("signal", "raw"))
		measure_signal(lat);
	free(lat);
	progress("ipc-bench: finished in %.1f s\n", (now_ns() - t0) / 1e9);

	if (cfg.json) {
		print_json();
	} else {
		print_table();
		print_seed_table();
	}
	fflush(stdout);
	return nresults || sig_done ? 0 : 1;
}
