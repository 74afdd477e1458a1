/* The seed's FIFO reader on libipc: create the named pipe, print every
 * message that writers send through it, and remove it when they are done.
 * Usage: fifo-reader PATH        (then run fifo-writer PATH elsewhere)
 * Build: cc fifo-reader.c $(pkg-config --cflags --libs ipc) */
#include <ipc/ipc.h>
#include <stdio.h>

int
main(int argc, char **argv)
{
	ipc_channel *in;
	char uri[4200], buf[4096];
	ssize_t n;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH\n", argv[0]);
		return 2;
	}
	/* IPC_CREATE: mkfifo with mode 0600; ipc_close() unlinks it. */
	snprintf(uri, sizeof(uri), "fifo:%s", argv[1]);
	if ((rc = ipc_open(&in, uri, IPC_RECV | IPC_CREATE, NULL)) < 0) {
		fprintf(stderr, "ipc_open %s: %s\n", uri, ipc_strerror(rc));
		return 1;
	}
	/* Waits for a writer; IPC_EOF once the last writer has closed. */
	while ((n = ipc_recv(in, buf, sizeof(buf), -1)) >= 0)
		printf("received: %.*s\n", (int)n, buf);
	if (n != IPC_EOF)
		fprintf(stderr, "ipc_recv: %s\n", ipc_strerror(n));
	ipc_close(in);
	return n != IPC_EOF;
}
