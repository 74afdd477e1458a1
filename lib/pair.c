/* ipc_pipe() and ipc_pair(): channels born connected, like pipe(2) and
 * socketpair(2). With IPC_INHERIT each end is (also) a blocking file
 * description that a child can dup2() onto 0/1/2 and exec, while the
 * library's own calls keep their timeouts. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream.h"

/* A pipe end the library can drive without blocking although the end a
 * child inherits blocks: our own O_NONBLOCK file description of the same
 * pipe, opened through /proc. @return it, or a negative errno. */
static int
pipe_own_description(int fd, int accmode)
{
	char path[64];
	int nfd;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	nfd = open(path, accmode | O_NONBLOCK | O_CLOEXEC);
	return nfd < 0 ? -errno : nfd;
}

/* One end over descriptor @p fd (taken over only on success). @p io_fd is
 * what the library reads or writes (fd itself, or its own description of
 * it), @p kind how. */
static int
end_new(ipc_channel **out, int flags, int rfd, int wfd, int kind, int xfd)
{
	struct ipc__bytes *io;
	ipc_channel *ch;
	ipc_options o;
	int rc;

	ipc__options_fill(&o, NULL);
	if ((rc = ipc__channel_new(&ch, &ipc__drv_pipe, flags & ~IPC_INHERIT, &o)) < 0)
		return rc;
	if ((rc = ipc__fd_bytes_new(&io, ch, rfd, kind, wfd, kind)) < 0) {
		ipc__channel_free(ch);
		return rc;
	}
	ipc__fd_bytes_export(io, xfd);
	/* A socket no child inherits is ours alone to make blocking. */
	if (kind == IPC__FD_SOCKET && !(flags & IPC_INHERIT))
		ipc__fd_bytes_own_socket(io);
	if ((rc = ipc__stream_init(ch, io)) < 0) {
		ipc__fd_bytes_forget(io);
		ipc__channel_free(ch);
		return rc;
	}
	*out = ch;
	return 0;
}

static void
close_all(int *fds, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

IPC_EXPORT int
ipc_pipe(ipc_channel *ends[2], int flags)
{
	ipc_channel *r = NULL, *w = NULL;
	int fds[4] = { -1, -1, -1, -1 }, rc;   /* read, write; own read, own write */

	if (!ends || (flags & ~(IPC_RAW | IPC_INHERIT)))
		return -EINVAL;
	if (pipe2(fds, O_CLOEXEC | ((flags & IPC_INHERIT) ? 0 : O_NONBLOCK)) < 0)
		return -errno;
	ipc__pipe_grow(fds[1]);
	if (flags & IPC_INHERIT) {
		if ((fds[2] = pipe_own_description(fds[0], O_RDONLY)) < 0 ||
		    (fds[3] = pipe_own_description(fds[1], O_WRONLY)) < 0) {
			rc = fds[2] < 0 ? fds[2] : fds[3];
			goto fail;
		}
		rc = end_new(&r, IPC_RECV | flags, fds[2], -1, IPC__FD_NONBLOCK, fds[0]);
		if (rc == 0)
			fds[0] = fds[2] = -1;   /* the channel owns them now */
		if (rc == 0 && (rc = end_new(&w, IPC_SEND | flags, -1, fds[3],
		                             IPC__FD_NONBLOCK, fds[1])) == 0)
			fds[1] = fds[3] = -1;
	} else {
		rc = end_new(&r, IPC_RECV | flags, fds[0], -1, IPC__FD_NONBLOCK, -1);
		if (rc == 0)
			fds[0] = -1;
		if (rc == 0 && (rc = end_new(&w, IPC_SEND | flags, -1, fds[1],
		                             IPC__FD_NONBLOCK, -1)) == 0)
			fds[1] = -1;
	}
	if (rc < 0)
		goto fail;
	ends[0] = r;
	ends[1] = w;
	return 0;
fail:
	if (r)
		ipc_close(r);
	close_all(fds, 4);
	return rc;
}

IPC_EXPORT int
ipc_pair(ipc_channel *ends[2], int flags)
{
	ipc_channel *e[2] = { NULL, NULL };
	int sv[2], rc, i;

	if (!ends || (flags & ~(IPC_RAW | IPC_INHERIT)))
		return -EINVAL;
	/* Sockets take MSG_DONTWAIT per call: an inheritable end stays a
	 * blocking description and the library still never blocks on it. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	               ((flags & IPC_INHERIT) ? 0 : SOCK_NONBLOCK), 0, sv) < 0)
		return -errno;
	for (i = 0; i < 2; i++) {
		rc = end_new(&e[i], IPC_SEND | IPC_RECV | flags, sv[i], sv[i],
		             IPC__FD_SOCKET, -1);
		if (rc < 0)
			goto fail;
		sv[i] = -1;
	}
	ends[0] = e[0];
	ends[1] = e[1];
	return 0;
fail:
	if (e[0])
		ipc_close(e[0]);
	close_all(sv, 2);
	return rc;
}
