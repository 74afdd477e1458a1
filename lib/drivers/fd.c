/* fd: inherited descriptors, e.g. stdin after the seed's dup2() + exec().
 * "fd:N" is one descriptor (one direction, or both for a socket);
 * "fd:R,W" receives on R and sends on W. The channel owns them. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../stream.h"

static int
parse_fd(const char **p)
{
	char *end;
	long v;

	if (**p < '0' || **p > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(*p, &end, 10);
	if (errno || v > INT_MAX)
		return -EINVAL;
	*p = end;
	return (int)v;
}

/* Never change flags on a description we share with other processes (an
 * O_NONBLOCK stdin would break the parent shell). For a pipe or a terminal,
 * open our own description of it through /proc and put it in place of the
 * old number, so that timeouts hold without touching the shared one. */
static int
adopt(int fd, int accmode, int *kind)
{
	struct stat a, b;
	char path[64];
	int nfd, rc;

	if (fstat(fd, &a) < 0)
		return -errno;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	if (S_ISSOCK(a.st_mode)) {
		*kind = IPC__FD_SOCKET;
		return 0;
	}
	*kind = IPC__FD_BLOCKING;
	if (!S_ISFIFO(a.st_mode) && !(S_ISCHR(a.st_mode) && isatty(fd)))
		return 0;       /* files, other devices: poll, then plain read/write */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, accmode | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (nfd < 0)
		return 0;       /* no /proc: fall back to poll-first */
	if (fstat(nfd, &b) < 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino ||
	    a.st_rdev != b.st_rdev) {
		close(nfd);
		return 0;
	}
	rc = dup3(nfd, fd, O_CLOEXEC) < 0 ? -errno : 0;
	close(nfd);
	if (rc == 0)
		*kind = IPC__FD_NONBLOCK;
	return rc;
}

static int
fd_open(ipc_channel *ch, const char *addr, int flags, const ipc_options *opt)
{
	int rfd = -1, wfd = -1, a, b = -1, rkind = 0, wkind = 0, rc;
	const char *p = addr;

	(void)opt;
	if ((a = parse_fd(&p)) < 0)
		return -EINVAL;
	if (*p == ',') {
		p++;
		if ((b = parse_fd(&p)) < 0 || b == a)
			return -EINVAL;
	}
	if (*p || (flags & IPC_CREATE) || (flags & IPC_ANY_UID))
		return -EINVAL;
	if (fcntl(a, F_GETFD) < 0 || (b >= 0 && fcntl(b, F_GETFD) < 0))
		return -EBADF;
	if (b < 0 && (flags & IPC_SEND) && (flags & IPC_RECV)) {
		struct stat st;

		/* Reading and writing one pipe: we would be our own peer and
		 * never see the end. Both ways need a socket (or "fd:R,W"). */
		if (fstat(a, &st) == 0 && S_ISFIFO(st.st_mode))
			return -EINVAL;
	}
	if (b >= 0) {
		if ((flags & (IPC_SEND | IPC_RECV)) != (IPC_SEND | IPC_RECV))
			return -EINVAL;
		rfd = a;
		wfd = b;
	} else {
		if (flags & IPC_RECV)
			rfd = a;
		if (flags & IPC_SEND)
			wfd = a;
	}
	if (rfd >= 0 && rfd != wfd && (rc = adopt(rfd, O_RDONLY, &rkind)) < 0)
		return rc;
	if (wfd >= 0 && (rc = adopt(wfd, rfd == wfd ? O_RDWR : O_WRONLY, &wkind)) < 0)
		return rc;
	if (rfd == wfd)
		rkind = wkind;
	return ipc__stream_init_fd(ch, rfd, rkind, wfd, wkind);
}

static void
fd_close(ipc_channel *ch)
{
	ipc__stream_close(ch);
}

const struct ipc_driver ipc__drv_fd = {
	.abi       = IPC_DRIVER_ABI,
	.size      = sizeof(struct ipc_driver),
	.scheme    = "fd",
	.priv_size = sizeof(struct ipc__framing *),
	.open      = fd_open,
	.send      = ipc__stream_send,
	.sendv      = ipc__stream_sendv,
	.send_batch = ipc__stream_send_batch,
	.recv_batch = ipc__stream_recv_batch,
	.recv      = ipc__stream_recv,
	.recv_size = ipc__stream_recv_size,
	.fd        = ipc__stream_fd,
	.flush     = ipc__stream_flush,
	.poll      = ipc__stream_poll,
	.close     = fd_close,
};
