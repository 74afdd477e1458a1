/* The seed's shared-memory reader on libipc: attach to the object the
 * writer made, print every message, acknowledge each one, and stop when the
 * writer has gone (IPC_EOF).
 * Usage: shm-reader NAME
 * Build: cc shm-reader.c $(pkg-config --cflags --libs ipc) */
#include <ipc/ipc.h>
#include <stdio.h>

int
main(int argc, char **argv)
{
	ipc_options opt = IPC_OPTIONS_INIT;
	ipc_channel *ch;
	char uri[300], buf[4096], ack[64];
	ssize_t n;
	int rc, count = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s NAME\n", argv[0]);
		return 2;
	}
	/* Attaching waits for the writer to finish setting the object up. */
	opt.open_timeout_ms = 5000;
	snprintf(uri, sizeof(uri), "shm:/%s", argv[1]);
	if ((rc = ipc_open(&ch, uri, IPC_SEND | IPC_RECV, &opt)) < 0) {
		fprintf(stderr, "ipc_open %s: %s\n", uri, ipc_strerror(rc));
		return 1;
	}
	while ((n = ipc_recv(ch, buf, sizeof(buf), -1)) >= 0) {
		printf("received: %.*s\n", (int)n, buf);
		fflush(stdout);
		rc = snprintf(ack, sizeof(ack), "%d", ++count);
		if ((n = ipc_send(ch, ack, (size_t)rc, 10000)) < 0)
			break;
	}
	if (n != IPC_EOF)
		fprintf(stderr, "ipc: %s\n", ipc_strerror(n));
	ipc_close(ch);
	return n != IPC_EOF;
}
