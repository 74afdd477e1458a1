/* ipc-bench rows: the raw baselines. The same framing libipc uses (a 4-byte
 * big-endian length prefix and the payload), written with one writev(2) per
 * message and read back with plain blocking read(2) loops (header, then
 * payload); the "batched writev" rows put many frames in one writev and read
 * them back through a buffer; the textbook shm + semaphore ring and the
 * busy-polling ring (the floor); memcpy and signals for the seed's table. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define SHM_SLOTS     16            /* textbook ring: slots of one message each */
#define SHM_SLOT_SIZE (4 + MAX_MSG)
#define SPIN_CAP      (4u << 20)    /* busy-poll ring bytes per direction */
#define RBUF_SIZE     (256u << 10)  /* batched reader: bytes per read(2) */

struct sem_ring {                 /* textbook bounded buffer */
	sem_t full, empty;
	unsigned char slot[SHM_SLOTS][SHM_SLOT_SIZE];
};

struct spin_ring {                /* single producer, single consumer */
	_Alignas(64) _Atomic uint64_t head;
	_Alignas(64) _Atomic uint64_t tail;
	_Alignas(64) unsigned char data[SPIN_CAP];
};

/* --- raw descriptors: writev(header, payload), blocking read loops --- */

/* Write every byte of @p v[0..n): writev again after a short write. */
static int
writev_all(int fd, struct iovec *v, int n)
{
	ssize_t r;

	while (n) {
		r = writev(fd, v, n);
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
raw_send(struct ep *e, const void *buf, size_t len)
{
	unsigned char hdr[4];
	struct iovec iov[2] = { { hdr, 4 }, { (void *)buf, len } };

	put_be32(hdr, (uint32_t)len);
	return writev_all(e->wfd, iov, len ? 2 : 1);
}

/* n frames (header + payload each) in one writev: 2n <= IOV_MAX pieces. */
static int
raw_send_batch(struct ep *e, const void *buf, size_t len, size_t n)
{
	static unsigned char hdr[MAX_BATCH][4];
	struct iovec iov[2 * MAX_BATCH];
	size_t i;

	for (i = 0; i < n; i++) {
		put_be32(hdr[i], (uint32_t)len);
		iov[2 * i] = (struct iovec){ hdr[i], 4 };
		iov[2 * i + 1] = (struct iovec){ (void *)buf, len };
	}
	return writev_all(e->wfd, iov, (int)(2 * n));
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


/* The batched reader: one read(2) of up to RBUF_SIZE, frames cut out of it. */
static int
rbuf_fill(struct ep *e, size_t need)
{
	ssize_t r;

	if (e->roff + need > RBUF_SIZE) {
		memmove(e->rbuf, e->rbuf + e->roff, e->rlen - e->roff);
		e->rlen -= e->roff;
		e->roff = 0;
	}
	while (e->rlen - e->roff < need) {
		r = read(e->rfd, e->rbuf + e->rlen, RBUF_SIZE - e->rlen);
		if (r > 0)
			e->rlen += (size_t)r;
		else if (r == 0)
			return -EPIPE;
		else if (errno != EINTR || timed_out)
			return errno == EINTR ? -ETIMEDOUT : -errno;
	}
	return 0;
}

static ssize_t
rawb_recv(struct ep *e, void *buf, size_t cap)
{
	uint32_t len;
	size_t have;
	int rc;

	if (!e->rbuf && !(e->rbuf = malloc(RBUF_SIZE)))
		return -ENOMEM;
	if ((rc = rbuf_fill(e, 4)) < 0)
		return rc;
	if ((len = get_be32(e->rbuf + e->roff)) > cap)
		return -EMSGSIZE;
	e->roff += 4;
	if (len <= RBUF_SIZE / 2) {
		if ((rc = rbuf_fill(e, len)) < 0)
			return rc;
		memcpy(buf, e->rbuf + e->roff, len);
		e->roff += len;
		return len;
	}
	have = e->rlen - e->roff < len ? e->rlen - e->roff : len;   /* large: straight in */
	memcpy(buf, e->rbuf + e->roff, have);
	e->roff += have;
	if ((rc = read_full(e->rfd, (char *)buf + have, len - have)) < 0)
		return rc;
	return len;
}

void
raw_close(struct ep *e)
{
	if (e->rfd >= 0)
		close(e->rfd);
	if (e->wfd >= 0 && e->wfd != e->rfd)
		close(e->wfd);
	e->rfd = e->wfd = -1;
}

static void
rawb_close(struct ep *e)
{
	raw_close(e);
	free(e->rbuf);
	e->rbuf = NULL;
}

static const struct ep_ops raw_ops = { raw_send, raw_recv, raw_close, NULL };
static const struct ep_ops rawb_ops = { raw_send, rawb_recv, rawb_close, raw_send_batch };

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
	if ((rc = sem_wait_bounded(&((struct sem_ring *)e->sout)->empty)) < 0)
		return rc;
	slot = ((struct sem_ring *)e->sout)->slot[e->wpos++ % SHM_SLOTS];
	put_be32(slot, (uint32_t)len);
	memcpy(slot + 4, buf, len);
	sem_post(&((struct sem_ring *)e->sout)->full);
	return 0;
}

static ssize_t
semr_recv(struct ep *e, void *buf, size_t cap)
{
	unsigned char *slot;
	uint32_t len;
	int rc;

	if ((rc = sem_wait_bounded(&((struct sem_ring *)e->sin)->full)) < 0)
		return rc;
	slot = ((struct sem_ring *)e->sin)->slot[e->rpos++ % SHM_SLOTS];
	len = get_be32(slot);
	if (len > cap || len > MAX_MSG)
		return -EMSGSIZE;
	memcpy(buf, slot + 4, len);
	sem_post(&((struct sem_ring *)e->sin)->empty);
	return len;
}

static void
shm_ep_close(struct ep *e)
{
	(void)e;        /* the mapping belongs to the run */
}

static const struct ep_ops semr_ops = { semr_send, semr_recv, shm_ep_close, NULL };

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
	struct spin_ring *r = e->sout;
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
	struct spin_ring *r = e->sin;
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

static const struct ep_ops spin_ops = { spin_send, spin_recv, shm_ep_close, NULL };


int
pipe_raw_prepare(struct run *r)
{
	if (pipe2(r->fd, O_CLOEXEC) < 0 || pipe2(r->fd + 2, O_CLOEXEC) < 0)
		return -errno;
	return 0;
}

static int
pipe_raw_attach(struct run *r, int child, struct ep *e)
{
	ep_init(e, r->im->batch ? &rawb_ops : &raw_ops);
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

void
fd_cleanup(struct run *r)
{
	int i;

	for (i = 0; i < 4; i++)
		close_fd(&r->fd[i]);
}

/* --- fifo --- */

/* --- fifo --- */

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
	ep_init(e, r->im->batch ? &rawb_ops : &raw_ops);
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

void
fifo_cleanup(struct run *r)
{
	int i;

	for (i = 0; i < 2; i++)
		if (r->path[i][0])
			unlink(r->path[i]);
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

int
tcp_raw_prepare(struct run *r)
{
	return sock_raw_listen(r, AF_INET);
}

static int
unix_raw_prepare(struct run *r)
{
	return sock_raw_listen(r, AF_UNIX);
}

int
sock_raw_attach(struct run *r, int child, struct ep *e)
{
	union sa a;
	int fd, one = 1;

	ep_init(e, r->im->batch ? &rawb_ops : &raw_ops);
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

void
sock_raw_cleanup(struct run *r)
{
	close_fd(&r->lfd);
	if (r->path[0][0])
		unlink(r->path[0]);
}


/* --- shm --- */

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
	e->sout = &s[child];
	e->sin = &s[!child];
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

/* memcpy bandwidth: @p blk blocks out of a 4 MiB source, like a ring. */
static double
memcpy_rate(size_t blk)
{
	size_t src_len = 4u << 20, off = 0;
	unsigned char *src = malloc(src_len), *dst = malloc(blk);
	int64_t t0, end, t = 0;
	long n = 0;

	double mbs;

	if (!src || !dst) {
		free(src);
		free(dst);
		return 0;
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
	mbs = (double)n * (double)blk / ((t - t0) / 1e3);
	free(src);
	free(dst);
	return mbs;
}

void
measure_memcpy(void)
{
	B.memcpy_mbs[0] = memcpy_rate(64u << 10);
	B.memcpy_mbs[1] = memcpy_rate(1u << 20);
}

/* Signals carry no data: one number for the seed's table, a sigqueue /
 * sigwaitinfo ping-pong with a real-time signal. */
void
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
		B.sig_p50_us = lat[n / 2] / 1e3;
		B.sig_p99_us = lat[n * 99 / 100] / 1e3;
		B.sig_done = 1;
	}
	progress(" done\n");
out:
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* ------------------------------------------------------------ the rows */

const struct impl bench_rows_raw[] = {
	{ "pipe", "raw", NULL, pipe_raw_prepare, pipe_raw_attach, fd_cleanup, "pipe(2)", 0 },
	{ "pipe", "raw-wv16", NULL, pipe_raw_prepare, pipe_raw_attach, fd_cleanup,
	  "16 frames per writev, buffered reads", 16 },
	{ "pipe", "raw-wv64", NULL, pipe_raw_prepare, pipe_raw_attach, fd_cleanup,
	  "64 frames per writev, buffered reads", 64 },
	{ "pipe", "raw-wv256", NULL, pipe_raw_prepare, pipe_raw_attach, fd_cleanup,
	  "256 frames per writev, buffered reads", 256 },
	{ "fifo", "raw", NULL, fifo_raw_prepare, fifo_raw_attach, fifo_cleanup, "mkfifo + open", 0 },
	{ "fd", "raw", NULL, pipe_raw_prepare, pipe_raw_attach, fd_cleanup,
	  "pipe(2), as pipe/raw", 0 },
	{ "tcp", "raw", NULL, tcp_raw_prepare, sock_raw_attach, sock_raw_cleanup, "TCP_NODELAY", 0 },
	{ "tcp", "raw-wv16", NULL, tcp_raw_prepare, sock_raw_attach, sock_raw_cleanup,
	  "16 frames per writev, buffered reads", 16 },
	{ "tcp", "raw-wv64", NULL, tcp_raw_prepare, sock_raw_attach, sock_raw_cleanup,
	  "64 frames per writev, buffered reads", 64 },
	{ "tcp", "raw-wv256", NULL, tcp_raw_prepare, sock_raw_attach, sock_raw_cleanup,
	  "256 frames per writev, buffered reads", 256 },
	{ "unix", "raw", NULL, unix_raw_prepare, sock_raw_attach, sock_raw_cleanup,
	  "AF_UNIX stream", 0 },
	{ "unix", "raw-wv16", NULL, unix_raw_prepare, sock_raw_attach, sock_raw_cleanup,
	  "16 frames per writev, buffered reads", 16 },
	{ "unix", "raw-wv64", NULL, unix_raw_prepare, sock_raw_attach, sock_raw_cleanup,
	  "64 frames per writev, buffered reads", 64 },
	{ "unix", "raw-wv256", NULL, unix_raw_prepare, sock_raw_attach, sock_raw_cleanup,
	  "256 frames per writev, buffered reads", 256 },
	{ "shm", "raw-sem", NULL, shm_sem_prepare, shm_sem_attach, shm_raw_cleanup,
	  "shm + sem_t, 16 slots", 0 },
	{ "shm", "raw-spin", "raw-sem", shm_spin_prepare, shm_spin_attach, shm_raw_cleanup,
	  "busy-poll SPSC ring (floor)", 0 },
};
const size_t bench_nrows_raw = sizeof(bench_rows_raw) / sizeof(bench_rows_raw[0]);
