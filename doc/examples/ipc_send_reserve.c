/* Build a message in the ring and read it where it lies: no copy on either
 * side. Both ends are in this process to keep it short; usually side B is
 * another process. Loans are shm only: elsewhere the calls answer
 * -EOPNOTSUPP, and a program falls back to ipc_send and ipc_recv. */
#include <ipc/ipc.h>
#include <stdio.h>
#include <unistd.h>

int
main(void)
{
	ipc_channel *rx, *tx;
	const unsigned char *in;
	const void *loaned;
	char uri[64];
	unsigned sum = 0;
	void *out;
	ssize_t n, i;
	int rc = 1;

	snprintf(uri, sizeof(uri), "shm:/loan-example-%ld", (long)getpid());
	if (ipc_open(&rx, uri, IPC_SEND | IPC_RECV | IPC_CREATE, NULL) < 0)
		return 1;
	if (ipc_open(&tx, uri, IPC_SEND | IPC_RECV, NULL) < 0) {
		ipc_close(rx);
		return 1;
	}
	/* Room for up to 256 bytes, written in place; only what is committed
	 * is sent. */
	n = ipc_send_reserve(tx, &out, 256, 1000);
	if (n < 0) {
		fprintf(stderr, "ipc_send_reserve: %s\n", ipc_strerror((int)n));
		goto done;
	}
	n = snprintf(out, 256, "built in the ring by %ld", (long)getpid());
	if ((n = ipc_send_commit(tx, out, (size_t)n)) < 0) {
		fprintf(stderr, "ipc_send_commit: %s\n", ipc_strerror((int)n));
		goto done;
	}
	/* The receive loan: read-only, good until it is released. */
	n = ipc_recv_peek(rx, &loaned, 1000);
	if (n < 0) {
		fprintf(stderr, "ipc_recv_peek: %s\n", ipc_strerror((int)n));
		goto done;
	}
	in = loaned;
	for (i = 0; i < n; i++)
		sum += in[i];
	printf("%.*s (%zd bytes, sum %u)\n", (int)n, (const char *)in, n, sum);
	if (ipc_recv_release(rx, loaned) == 0)
		rc = 0;
done:
	ipc_close(tx);
	ipc_close(rx);
	return rc;
}
