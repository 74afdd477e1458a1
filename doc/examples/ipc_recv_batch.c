/* Receive up to 32 messages per call: the call waits for the first and
 * takes the others from what has already arrived. */
#include <ipc/ipc.h>
#include <stdio.h>
#include <sys/uio.h>

#define B 32

int
main(void)
{
	static char bufs[B][256];
	struct iovec msgs[B];
	ipc_channel *ends[2];
	ssize_t n, i;
	int total = 0, calls = 0;

	if (ipc_pair(ends, 0) < 0)
		return 1;
	for (i = 0; i < 100; i++)
		if (ipc_send(ends[0], "tick", 4, 1000) != 4)
			return 1;
	ipc_close(ends[0]);               /* the receiver then sees IPC_EOF */
	for (;;) {
		for (i = 0; i < B; i++)   /* iov_len: the room on entry */
			msgs[i] = (struct iovec){ bufs[i], sizeof(bufs[i]) };
		n = ipc_recv_batch(ends[1], msgs, B, 1000);
		if (n == IPC_EOF)
			break;
		if (n < 0) {
			fprintf(stderr, "ipc_recv_batch: %s\n", ipc_strerror((int)n));
			return 1;
		}
		for (i = 0; i < n; i++)   /* iov_len: the length on return */
			if (msgs[i].iov_len != 4)
				return 1;
		total += (int)n;
		calls++;
	}
	printf("%d messages in %d calls\n", total, calls);
	ipc_close(ends[1]);
	return 0;
}
