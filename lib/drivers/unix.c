/* unix: "unix:/path" (a socket file) and "unix:@name" (Linux abstract
 * namespace). Peers are checked with SO_PEERCRED both ways. The socket
 * layer (lib/sockets.c) does connect, hellos and accept.
 *
 * The socket file's mode: Linux gives the file the socket inode's mode minus
 * the umask, so fchmod() before bind() makes a file that is never wider than
 * asked; if the umask took bits away, a chmod() right after bind() (under the
 * lock below, the file checked to be ours) gives it exactly opt->mode. The
 * umask itself is never touched: it is process-wide. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../sockets.h"

/* Fill @p sa from "/path" or "@name". @return the address length or < 0. */
static int
unix_parse(const char *addr, struct sockaddr_un *sa)
{
	size_t n = strlen(addr);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (addr[0] == '@') {
		/* Abstract: a leading NUL, then the name, no terminator. */
		if (n < 2)
			return -EINVAL;
		if (n > sizeof(sa->sun_path))
			return -ENAMETOOLONG;
		memcpy(sa->sun_path + 1, addr + 1, n - 1);
		return (int)(offsetof(struct sockaddr_un, sun_path) + n);
	}
	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, addr, n + 1);
	return (int)(offsetof(struct sockaddr_un, sun_path) + n + 1);
}

/* ------------------------------------------------------------ the lock */

static int
unix_lock_path(const char *path, char *out, size_t cap)
{
	if ((size_t)snprintf(out, cap, "%s.lock", path) >= cap)
		return -ENAMETOOLONG;
	return 0;
}

/* flock "<path>.lock" so two servers cannot both decide a socket is stale.
 * The holder removes the lock file before it lets go, so a waiter checks
 * that what it locked is still the file at that name. */
static int
unix_lock(const char *path)
{
	char lp[PATH_MAX];
	struct stat a, b;
	int fd, rc;

	if ((rc = unix_lock_path(path, lp, sizeof(lp))) < 0)
		return rc;
	for (;;) {
		fd = open(lp, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		while ((rc = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
			;
		if (rc < 0 || fstat(fd, &a) < 0) {
			rc = -errno;
			close(fd);
			return rc;
		}
		if (stat(lp, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return fd;
		close(fd);      /* the previous holder removed it: start again */
	}
}

static void
unix_unlock(const char *path, int fd)
{
	char lp[PATH_MAX];

	if (unix_lock_path(path, lp, sizeof(lp)) == 0)
		unlink(lp);
	close(fd);
}

/* Under the lock: make @p path free for bind. Nothing there: fine. A socket
 * nobody listens on (connect says ECONNREFUSED): stale, removed. A live one:
 * -EADDRINUSE. Anything that is not a socket is left alone: -ENOTSOCK. */
static int
unix_claim(const struct sockaddr_un *sa, socklen_t len)
{
	struct stat st;
	int fd, r, err;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sa, len);
	err = errno;
	close(fd);
	if (r == 0 || err == EAGAIN || err == EINPROGRESS)
		return -EADDRINUSE;
	if (err != ECONNREFUSED)
		return -err;
	if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* ------------------------------------------------------------ channels */

static int
unix_cred(int fd, struct ucred *uc)
{
	socklen_t n = sizeof(*uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, uc, &n) < 0)
		return -errno;
	return 0;
}

static int
unix_open(ipc_channel *ch, const char *addr, int flags, const ipc_options *opt)
{
	long long deadline = ipc_deadline(opt->open_timeout_ms);
	struct sockaddr_un sa;
	struct ucred uc;
	int len, fd, rc;

	if ((len = unix_parse(addr, &sa)) < 0)
		return len;
	fd = ipc__sock_connect(ch, (struct sockaddr *)&sa, (socklen_t)len, deadline);
	if (fd < 0)
		return fd;
	/* The listener must be ours or root's: not someone squatting a name. */
	if (!(flags & IPC_ANY_UID)) {
		if ((rc = unix_cred(fd, &uc)) == 0 && uc.uid != geteuid() && uc.uid != 0)
			rc = -EACCES;
		if (rc < 0) {
			close(fd);
			return rc;
		}
	}
	return ipc__sock_start(ch, fd, deadline);
}

static int
unix_peer_cred(const ipc_channel *ch, struct ipc_peer *out)
{
	struct ucred uc;
	int rc;

	if ((rc = unix_cred(ipc__stream_fd_of(ch), &uc)) < 0)
		return rc;
	out->pid = uc.pid;
	out->uid = uc.uid;
	out->gid = uc.gid;
	return 0;
}

/* ------------------------------------------------------------ listeners */

static int
unix_admit(const struct ipc__sock_listener *sl, int fd)
{
	struct ucred uc;
	int rc;

	if (sl->flags & IPC_ANY_UID)
		return 0;
	if ((rc = unix_cred(fd, &uc)) < 0)
		return rc;
	return uc.uid == geteuid() ? 0 : -EACCES;
}

/* Bind a socket file with exactly @p mode, replacing a stale one. */
static int
unix_bind_path(int fd, const struct sockaddr_un *sa, socklen_t len, unsigned mode,
               struct stat *out)
{
	int lk, rc = 0;

	if (fchmod(fd, mode) < 0)
		return -errno;
	if ((lk = unix_lock(sa->sun_path)) < 0)
		return lk;
	if ((rc = unix_claim(sa, len)) < 0)
		goto out;
	if (bind(fd, (const struct sockaddr *)sa, len) < 0) {
		rc = -errno;
		goto out;
	}
	/* Only what we just bound is ours to fix up or remove. */
	if (lstat(sa->sun_path, out) < 0)
		rc = -errno;
	else if (!S_ISSOCK(out->st_mode))
		rc = -ENOTSOCK;
	else if (((out->st_mode & 07777) != mode && chmod(sa->sun_path, mode) < 0) ||
	         listen(fd, SOMAXCONN) < 0) {
		rc = -errno;
		unlink(sa->sun_path);
	}
out:
	unix_unlock(sa->sun_path, lk);
	return rc;
}

static int
unix_listen(ipc_listener *l, const char *addr, int flags, const ipc_options *opt)
{
	struct ipc__sock_listener *sl;
	struct sockaddr_un sa;
	struct stat st;
	int len, fd, rc;

	if ((len = unix_parse(addr, &sa)) < 0)
		return len;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sa.sun_path[0])
		rc = unix_bind_path(fd, &sa, (socklen_t)len, opt->mode, &st);
	else if (bind(fd, (struct sockaddr *)&sa, (socklen_t)len) < 0 ||
	         listen(fd, SOMAXCONN) < 0)
		rc = -errno;
	else
		rc = 0;
	if (rc < 0) {
		close(fd);
		return rc;
	}
	if ((rc = ipc__sock_listener_new(l, fd, flags, unix_admit)) < 0) {
		if (sa.sun_path[0])
			unlink(sa.sun_path);
		return rc;
	}
	sl = ipc__sock_listener_get(l);
	snprintf(sl->addr, sizeof(sl->addr), "unix:%s", addr);
	if (sa.sun_path[0]) {
		if (!(sl->path = strdup(sa.sun_path))) {
			unlink(sa.sun_path);
			return -ENOMEM;
		}
		sl->dev = st.st_dev;
		sl->ino = st.st_ino;
	}
	return 0;
}

static void
unix_listener_close(ipc_listener *l)
{
	struct ipc__sock_listener *sl = ipc__sock_listener_get(l);
	struct stat st;
	int lk;

	/* Only the process that bound it removes the file, and only if the
	 * name still holds our socket, not a successor's. */
	if (sl && sl->path && l->owner == getpid()) {
		lk = unix_lock(sl->path);
		if (lstat(sl->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
		    st.st_dev == sl->dev && st.st_ino == sl->ino)
			unlink(sl->path);
		if (lk >= 0)
			unix_unlock(sl->path, lk);
	}
	ipc__sock_listener_free(l);
}

const struct ipc_driver ipc__drv_unix = {
	.abi = IPC_DRIVER_ABI,
	.size = sizeof(struct ipc_driver),
	.scheme = "unix",
	.priv_size = sizeof(struct ipc__framing *),
	.listener_priv_size = sizeof(struct ipc__sock_listener),
	.open = unix_open,
	.send = ipc__stream_send,
	.sendv      = ipc__stream_sendv,
	.send_batch = ipc__stream_send_batch,
	.recv_batch = ipc__stream_recv_batch,
	.recv = ipc__stream_recv,
	.recv_size = ipc__stream_recv_size,
	.fd = ipc__stream_fd,
	.flush = ipc__stream_flush,
	.poll = ipc__stream_poll,
	.close = ipc__stream_close,
	.listen = unix_listen,
	.accept = ipc__sock_accept,
	.listener_addr = ipc__sock_listener_addr,
	.listener_fd = ipc__sock_listener_fd,
	.listener_shutdown = ipc__sock_listener_shutdown,
	.listener_close = unix_listener_close,
	.peer_cred = unix_peer_cred,
};
