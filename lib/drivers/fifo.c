/* fifo: named pipes. One direction per channel; the IPC_CREATE side makes the
 * FIFO with the exact mode asked for and removes it on close. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../stream.h"

struct fifo_priv {
	struct ipc__framing *framing;   /* first, as every stream driver's */
	char *path;         /* set only when this channel created the FIFO */
};

/* The object must be a FIFO owned by us, else we leave it alone. */
static int
fifo_verdict(const struct stat *st)
{
	if (!S_ISFIFO(st->st_mode))
		return -ENOTSUP;
	if (st->st_uid != geteuid())
		return -EACCES;
	return 0;
}

static int
fifo_check(int fd)
{
	struct stat st;

	return fstat(fd, &st) < 0 ? -errno : fifo_verdict(&st);
}

/* Look before opening: opening a device or a symlink has side effects. */
static int
fifo_lcheck(const char *path)
{
	struct stat st;

	return lstat(path, &st) < 0 ? -errno : fifo_verdict(&st);
}

/* Create the FIFO (or take over a stale one of ours) and give it exactly
 * @p mode with fchmod, whatever the umask. */
static int
fifo_create(const char *path, unsigned mode)
{
	int fd, rc, made = 1;

	if (mkfifo(path, 0600) < 0) {
		if (errno != EEXIST)
			return -errno;
		made = 0;
	}
	if ((rc = fifo_lcheck(path)) < 0)
		return rc;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		rc = -errno;
	else {
		rc = fifo_check(fd);
		if (rc == 0 && fchmod(fd, mode) < 0)
			rc = -errno;
		close(fd);
	}
	if (rc < 0 && made)
		unlink(path);
	return rc;
}

static int
fifo_open_writer(ipc_channel *ch, const char *path, const ipc_options *opt)
{
	long long deadline = ipc_deadline(opt->open_timeout_ms);
	struct timespec nap = { 0, 100000 };   /* 0.1 ms, doubling up to 10 ms */
	int fd;

	for (;;) {
		fd = open(path, O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			return fd;
		if (errno != ENXIO && errno != EINTR)
			return errno == ELOOP ? -ENOTSUP : -errno;
		/* No reader yet: the rendezvous open(2) would block for. */
		if (atomic_load(&ch->shut))
			return IPC_EOF;
		if (deadline > 0 && ipc__now_ns() + nap.tv_nsec >= deadline)
			return -ETIMEDOUT;
		nanosleep(&nap, NULL);
		if (nap.tv_nsec < 10000000)
			nap.tv_nsec = nap.tv_nsec * 2 > 10000000 ? 10000000 : nap.tv_nsec * 2;
	}
}

static int
fifo_open(ipc_channel *ch, const char *path, int flags, const ipc_options *opt)
{
	struct fifo_priv *fp = ch->priv;
	int dir = flags & (IPC_SEND | IPC_RECV), fd, rc;

	if (dir == (IPC_SEND | IPC_RECV) || (flags & IPC_ANY_UID) || path[0] != '/' ||
	    strlen(path) >= 4096)
		return -EINVAL;
	if (flags & IPC_CREATE) {
		if ((rc = fifo_create(path, opt->mode)) < 0)
			return rc;
		if (!(fp->path = strdup(path))) {
			unlink(path);
			return -ENOMEM;
		}
	} else if ((rc = fifo_lcheck(path)) < 0) {
		return rc;
	}
	if (dir == IPC_RECV) {
		fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return errno == ELOOP ? -ENOTSUP : -errno;
	} else if ((fd = fifo_open_writer(ch, path, opt)) < 0) {
		return fd;
	}
	if ((rc = fifo_check(fd)) < 0) {
		close(fd);
		return rc;
	}
	ipc__pipe_grow(fd);
	if (dir == IPC_RECV)
		rc = ipc__stream_init_fd(ch, fd, IPC__FD_NONBLOCK, -1, 0);
	else
		rc = ipc__stream_init_fd(ch, -1, 0, fd, IPC__FD_NONBLOCK);
	if (rc < 0)
		close(fd);      /* init takes the descriptor only on success */
	return rc;
}

static void
fifo_close(ipc_channel *ch)
{
	struct fifo_priv *fp = ch->priv;

	ipc__stream_close(ch);
	if (fp->path && !ipc_channel_foreign(ch))
		unlink(fp->path);
	free(fp->path);
	fp->path = NULL;
}

const struct ipc_driver ipc__drv_fifo = {
	.abi       = IPC_DRIVER_ABI,
	.size      = sizeof(struct ipc_driver),
	.scheme    = "fifo",
	.priv_size = sizeof(struct fifo_priv),
	.open      = fifo_open,
	.send      = ipc__stream_send,
	.sendv      = ipc__stream_sendv,
	.send_batch = ipc__stream_send_batch,
	.recv_batch = ipc__stream_recv_batch,
	.recv      = ipc__stream_recv,
	.recv_size = ipc__stream_recv_size,
	.fd        = ipc__stream_fd,
	.flush     = ipc__stream_flush,
	.poll      = ipc__stream_poll,
	.close     = fifo_close,
};
