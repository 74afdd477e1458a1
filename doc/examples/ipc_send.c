#include <errno.h>
#include <ipc/ipc.h>
#include <stdio.h>
#include <string.h>

/* ./demo send | ./demo recv */
int
main(int argc, char **argv)
{
	ipc_channel *ch;
	char small[64];
	void *big;
	ssize_t n;
	int rc;

	if (argc > 1 && strcmp(argv[1], "send") == 0) {
		static char blob[100000];

		if ((rc = ipc_open(&ch, "fd:1", IPC_SEND, NULL)) < 0)
			return 1;
		n = ipc_send(ch, "short", 5, 1000);
		if (n >= 0)
			n = ipc_send(ch, blob, sizeof(blob), 1000);
		if (n < 0)
			fprintf(stderr, "send: %s\n", ipc_strerror((int)n));
		ipc_close(ch);
		return n < 0;
	}
	if ((rc = ipc_open(&ch, "fd:0", IPC_RECV, NULL)) < 0)
		return 1;
	for (;;) {
		n = ipc_recv(ch, small, sizeof(small), 5000);
		if (n == -EMSGSIZE) {           /* still queued: take it whole */
			n = ipc_recv_alloc(ch, &big, 0);
			if (n >= 0) {
				printf("large message, %zd bytes\n", n);
				ipc_free(big);
				continue;
			}
		}
		if (n < 0)
			break;
		printf("%zd bytes: %.*s\n", n, (int)n, small);
	}
	if (n != IPC_EOF)
		fprintf(stderr, "recv: %s\n", ipc_strerror((int)n));
	ipc_close(ch);
	return n != IPC_EOF;
}
