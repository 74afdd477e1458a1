/* The byte stream over file descriptors under every built-in framed
 * transport: pipes, FIFOs, fd:, unix and tcp sockets. One or two
 * descriptors; sockets get MSG_DONTWAIT/MSG_NOSIGNAL per call, our own pipe
 * and FIFO descriptions are O_NONBLOCK, and a shared description we must not
 * change is polled before each call. Pipes never raise SIGPIPE in the host. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "stream.h"

struct fd_bytes {
	struct ipc__bytes base;
	int      rfd, wfd;          /* -1 when that direction is unused; may be equal */
	int      xfd;               /* IPC_INHERIT: the blocking description ipc_fd()
	                               gives out, beside our own non-blocking one */
	uint8_t  rkind, wkind;      /* enum ipc__fdkind */
	uint8_t  wpipe;             /* wfd is a pipe/FIFO: guard SIGPIPE */
	uint8_t  rfifo;             /* rfd is a pipe/FIFO: read() == 0 needs a second look */
	uint8_t  block_ok;          /* our own socket, made blocking: *_block may block */
	uint8_t  tcp;               /* its send timeout bounds a whole call (unix: a segment) */
};

/* A unix socket's send timeout restarts with every segment it queues, so a
 * blocking write there takes at most this much, to see ipc_shutdown() soon
 * even while a slow peer keeps taking bytes. */
#define UNIX_BLOCK_MAX (2u << 20)

/* Is @p fd ready for @p events right now? (shared blocking descriptions) */
static int
fd_ready_now(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	while ((n = poll(&p, 1, 0)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return -errno;
	if (p.revents & POLLNVAL)
		return -EBADF;
	return n > 0;
}

/* A FIFO reads 0 while no writer has come yet: that is not the end. Linux
 * reports POLLHUP only once a writer has come and gone. */
static int
fifo_really_eof(const struct fd_bytes *f)
{
	struct pollfd p = { .fd = f->rfd, .events = POLLIN };

	if (!f->rfifo)
		return 1;
	return poll(&p, 1, 0) > 0 && (p.revents & POLLHUP) && !(p.revents & POLLIN);
}

static ssize_t
fd_read(struct ipc__bytes *b, void *buf, size_t n)
{
	struct fd_bytes *f = (struct fd_bytes *)b;
	ssize_t r;
	int rc;

	for (;;) {
		if (f->rkind == IPC__FD_BLOCKING && (rc = fd_ready_now(f->rfd, POLLIN)) <= 0)
			return rc < 0 ? rc : -EAGAIN;
		if (f->rkind == IPC__FD_SOCKET)
			r = recv(f->rfd, buf, n, MSG_DONTWAIT);
		else
			r = read(f->rfd, buf, n);
		if (r > 0)
			return r;
		if (r == 0)
			return fifo_really_eof(f) ? 0 : -EAGAIN;   /* no writer yet */
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

#ifndef RWF_NOSIGNAL
#define RWF_NOSIGNAL 0x00000100     /* Linux 6.18: EPIPE without SIGPIPE */
#endif

/* 1 while the kernel takes RWF_NOSIGNAL, 0 once it refused it. Test-hook
 * builds run the older kernels' path here while IPC_TEST_SIGMASK_GUARD is set. */
static atomic_int nosignal_works = 1;

/* writev() on a pipe or FIFO without ever raising SIGPIPE in the host. Where
 * the kernel has RWF_NOSIGNAL that is one system call; elsewhere block SIGPIPE
 * in this thread, and consume it only if this write raised it (two more). */
static ssize_t
pipe_writev(int fd, const struct iovec *iov, int n)
{
	sigset_t pipe_set, old, pending;
	int was_blocked, was_pending = 0;
	ssize_t r;
	int err;

	if (atomic_load_explicit(&nosignal_works, memory_order_relaxed) &&
	    !ipc__test_getenv("IPC_TEST_SIGMASK_GUARD")) {
		r = pwritev2(fd, iov, n, -1, RWF_NOSIGNAL);
		if (r >= 0 || errno != EOPNOTSUPP)
			return r;
		atomic_store_explicit(&nosignal_works, 0, memory_order_relaxed);
	}
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	was_blocked = sigismember(&old, SIGPIPE);
	if (was_blocked && sigpending(&pending) == 0)
		was_pending = sigismember(&pending, SIGPIPE);
	r = writev(fd, iov, n);
	err = errno;
	if (r < 0 && err == EPIPE && !was_pending) {
		static const struct timespec zero;

		while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	if (!was_blocked)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = err;
	return r;
}

static ssize_t
fd_writev(struct ipc__bytes *b, const struct iovec *iov, int n)
{
	struct fd_bytes *f = (struct fd_bytes *)b;
	ssize_t r;
	int rc;

	for (;;) {
		if (f->wkind == IPC__FD_BLOCKING && (rc = fd_ready_now(f->wfd, POLLOUT)) <= 0)
			return rc < 0 ? rc : -EAGAIN;
		if (f->wkind == IPC__FD_SOCKET) {
			struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };

			r = sendmsg(f->wfd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		} else if (f->wpipe) {
			r = pipe_writev(f->wfd, iov, n);
		} else {
			r = writev(f->wfd, iov, n);
		}
		if (r > 0)
			return r;
		if (r == 0)
			return -EPIPE;
		if (errno == EINTR)
			continue;
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

static int
fd_fd(const struct ipc__bytes *b, short events)
{
	const struct fd_bytes *f = (const struct fd_bytes *)b;

	if (f->xfd >= 0)
		return f->xfd;      /* the same pipe: as good to poll */
	return events & POLLOUT ? f->wfd : f->rfd;
}

void
ipc__fd_bytes_export(struct ipc__bytes *b, int fd)
{
	((struct fd_bytes *)b)->xfd = fd;
}

/* Blocking calls on our own socket: one slice of timeout each way, set once. */
static int
fd_block_setup(int fd)
{
	struct timeval tv = { 0, IPC__BLOCK_SLICE_MS * 1000 };
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return 0;
	return !(fl & O_NONBLOCK) || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == 0;
}

void
ipc__fd_bytes_own_socket(struct ipc__bytes *b)
{
	struct fd_bytes *f = (struct fd_bytes *)b;
	socklen_t len = sizeof(int);
	int proto = 0;

	if (f->rfd < 0 || f->rfd != f->wfd || f->rkind != IPC__FD_SOCKET ||
	    getsockopt(f->rfd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0)
		return;
	f->tcp = proto == IPPROTO_TCP;
	f->block_ok = (uint8_t)fd_block_setup(f->rfd);
}

static ssize_t
fd_read_block(struct ipc__bytes *b, void *buf, size_t n)
{
	struct fd_bytes *f = (struct fd_bytes *)b;
	ssize_t r;

	if (!f->block_ok)
		return fd_read(b, buf, n);
	/* Returns with all n, or what came within the slice, or at a signal. */
	r = recv(f->rfd, buf, n, MSG_WAITALL);
	if (r >= 0)
		return r;
	return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
}

static ssize_t
fd_writev_block(struct ipc__bytes *b, const struct iovec *iov, int n, long long deadline)
{
	struct fd_bytes *f = (struct fd_bytes *)b;
	struct iovec cut[IOV_MAX];
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
	size_t total = 0;
	ssize_t r;
	int i;

	if (!f->block_ok || (!f->tcp && deadline >= 0))
		return fd_writev(b, iov, n);
	if (!f->tcp) {
		/* At most UNIX_BLOCK_MAX bytes per call. */
		for (i = 0; i < n && total < UNIX_BLOCK_MAX; i++) {
			cut[i] = iov[i];
			if (cut[i].iov_len > UNIX_BLOCK_MAX - total)
				cut[i].iov_len = UNIX_BLOCK_MAX - total;
			total += cut[i].iov_len;
		}
		m.msg_iov = cut;
		m.msg_iovlen = (size_t)i;
	}
	r = sendmsg(f->wfd, &m, MSG_NOSIGNAL);
	if (r > 0)
		return r;
	if (r == 0)
		return -EPIPE;
	return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
}

static int
fd_wait(struct ipc__bytes *b, short events, long long deadline)
{
	return ipc_wait_fd(b->ch, fd_fd(b, events), events, deadline);
}

static size_t
fd_pending(const struct ipc__bytes *b)
{
	(void)b;
	return 0;
}

void
ipc__fd_bytes_forget(struct ipc__bytes *b)
{
	free(b);
}

static void
fd_close(struct ipc__bytes *b)
{
	struct fd_bytes *f = (struct fd_bytes *)b;

	if (f->rfd >= 0)
		close(f->rfd);
	if (f->wfd >= 0 && f->wfd != f->rfd)
		close(f->wfd);
	if (f->xfd >= 0)
		close(f->xfd);
	free(f);
}

static const struct ipc__bytes_ops fd_ops = {
	.read    = fd_read,
	.writev  = fd_writev,
	.wait    = fd_wait,
	.fd      = fd_fd,
	.pending = fd_pending,
	.read_block = fd_read_block,
	.writev_block = fd_writev_block,
	.close   = fd_close,
};

int
ipc__fd_bytes_new(struct ipc__bytes **out, ipc_channel *ch, int rfd, int rkind,
                  int wfd, int wkind)
{
	struct fd_bytes *f = calloc(1, sizeof(*f));
	struct stat st;

	if (!f)
		return -ENOMEM;
	f->base.ops = &fd_ops;
	f->base.ch = ch;
	f->rfd = rfd;
	f->wfd = wfd;
	f->xfd = -1;
	f->rkind = (uint8_t)rkind;
	f->wkind = (uint8_t)wkind;
	if (wfd >= 0 && wkind != IPC__FD_SOCKET && fstat(wfd, &st) == 0)
		f->wpipe = S_ISFIFO(st.st_mode);
	if (rfd >= 0 && rkind != IPC__FD_SOCKET && fstat(rfd, &st) == 0)
		f->rfifo = S_ISFIFO(st.st_mode);
	*out = &f->base;
	return 0;
}
