/* The driver behind ipc_pipe() and ipc_pair() channels (lib/pair.c). They have
 * no name to open, so the table is not in the registry: "pipe:..." is an
 * unknown scheme like any other. */
#include <errno.h>

#include "../stream.h"

static int
pipe_open(ipc_channel *ch, const char *addr, int flags, const ipc_options *opt)
{
	(void)ch; (void)addr; (void)flags; (void)opt;
	return -EINVAL;     /* never called: lib/pair.c sets the channels up */
}

const struct ipc_driver ipc__drv_pipe = {
	.abi       = IPC_DRIVER_ABI,
	.size      = sizeof(struct ipc_driver),
	.scheme    = "pipe",
	.priv_size = sizeof(struct ipc__framing *),
	.open      = pipe_open,
	.send      = ipc__stream_send,
	.sendv      = ipc__stream_sendv,
	.send_batch = ipc__stream_send_batch,
	.recv_batch = ipc__stream_recv_batch,
	.recv      = ipc__stream_recv,
	.recv_size = ipc__stream_recv_size,
	.fd        = ipc__stream_fd,
	.poll      = ipc__stream_poll,
	.flush     = ipc__stream_flush,
	.close     = ipc__stream_close,
};
