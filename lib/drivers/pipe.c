/* Anonymous pipes: ipc_pipe(), the seed's pipe() + fork() on libipc. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "../stream.h"

static int
pipe_open(ipc_channel *ch, const char *addr, int flags, const ipc_options *opt)
{
	(void)ch; (void)addr; (void)flags; (void)opt;
	return -EINVAL;     /* an anonymous pipe has no name: use ipc_pipe() */
}

static void
pipe_close(ipc_channel *ch)
{
	ipc__stream_close(ch);
}

const struct ipc_driver ipc__drv_pipe = {
	.abi       = IPC_DRIVER_ABI,
	.scheme    = "pipe",
	.priv_size = sizeof(struct ipc__framing *),
	.open      = pipe_open,
	.send      = ipc__stream_send,
	.recv      = ipc__stream_recv,
	.recv_size = ipc__stream_recv_size,
	.fd        = ipc__stream_fd,
	.pending   = ipc__stream_pending,
	.poll      = ipc__stream_poll,
	.close     = pipe_close,
};

IPC_EXPORT int
ipc_pipe(ipc_channel *ends[2], int flags)
{
	ipc_channel *r = NULL, *w = NULL;
	ipc_options o;
	int fds[2], rc;

	if (!ends || (flags & ~IPC_RAW))
		return -EINVAL;
	ipc__options_fill(&o, NULL);
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	ipc__pipe_grow(fds[1]);
	if ((rc = ipc__channel_new(&r, &ipc__drv_pipe, IPC_RECV | flags, &o)) < 0 ||
	    (rc = ipc__channel_new(&w, &ipc__drv_pipe, IPC_SEND | flags, &o)) < 0)
		goto fail;
	if ((rc = ipc__stream_init_fd(r, fds[0], IPC__FD_NONBLOCK, -1, 0)) < 0)
		goto fail;
	fds[0] = -1;        /* the channel owns it now */
	if ((rc = ipc__stream_init_fd(w, -1, 0, fds[1], IPC__FD_NONBLOCK)) < 0)
		goto fail;
	ends[0] = r;
	ends[1] = w;
	return 0;
fail:
	if (fds[0] >= 0)
		close(fds[0]);
	if (r) {
		ipc__stream_close(r);
		ipc__channel_free(r);
	}
	if (w)
		ipc__channel_free(w);   /* init failed before taking fds[1] */
	close(fds[1]);
	return rc;
}
