/* Send 100 small records with as few system calls as the kernel allows,
 * resuming where a batch stopped, and count what arrives. */
#include <ipc/ipc.h>
#include <stdio.h>
#include <sys/uio.h>

#define N 100

int
main(void)
{
	static char rec[N][16];
	struct iovec msgs[N];
	ipc_channel *ends[2];
	size_t done = 0;
	ssize_t n;
	int i, got = 0;

	if (ipc_pair(ends, 0) < 0)
		return 1;
	for (i = 0; i < N; i++) {
		int len = snprintf(rec[i], sizeof(rec[i]), "record %d", i);

		msgs[i] = (struct iovec){ rec[i], (size_t)len };
	}
	while (done < N) {
		/* Each call sends 1..N-done messages, whole and in order. */
		n = ipc_send_batch(ends[0], msgs + done, N - done, 1000);
		if (n < 0) {
			fprintf(stderr, "ipc_send_batch: %s\n", ipc_strerror((int)n));
			return 1;
		}
		done += (size_t)n;
	}
	while (got < N) {
		char buf[16];

		if (ipc_recv(ends[1], buf, sizeof(buf), 1000) < 0)
			return 1;
		got++;
	}
	printf("%d records sent and received\n", got);
	ipc_close(ends[0]);
	ipc_close(ends[1]);
	return 0;
}
