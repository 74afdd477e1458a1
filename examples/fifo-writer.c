/* The seed's FIFO writer on libipc: send each argument as one message
 * through the named pipe that fifo-reader created.
 * Usage: fifo-writer PATH [MESSAGE...]
 * Build: cc fifo-writer.c $(pkg-config --cflags --libs ipc) */
#include <ipc/ipc.h>
#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
	char *hello[] = { "hello through a FIFO", NULL };
	char **msg = argc > 2 ? argv + 2 : hello;
	ipc_channel *out;
	char uri[4200];
	ssize_t n = 0;
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: %s PATH [MESSAGE...]\n", argv[0]);
		return 2;
	}
	/* Like open(O_WRONLY) on a FIFO: waits until a reader has it open. */
	snprintf(uri, sizeof(uri), "fifo:%s", argv[1]);
	if ((rc = ipc_open(&out, uri, IPC_SEND, NULL)) < 0) {
		fprintf(stderr, "ipc_open %s: %s\n", uri, ipc_strerror(rc));
		return 1;
	}
	for (; *msg && n >= 0; msg++)
		if ((n = ipc_send(out, *msg, strlen(*msg), -1)) < 0)
			fprintf(stderr, "ipc_send: %s\n", ipc_strerror(n));
	ipc_close(out);
	return n < 0;
}
