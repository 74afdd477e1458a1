/* The seed's shared-memory writer on libipc: create the object, send each
 * argument as one message, and wait until the reader has acknowledged them
 * all before removing it (ipc_close() unlinks what IPC_CREATE made).
 * Usage: shm-writer NAME [MSG...]     (then run shm-reader NAME elsewhere)
 * Build: cc shm-writer.c $(pkg-config --cflags --libs ipc) */
#include <ipc/ipc.h>
#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
	ipc_channel *ch;
	char uri[300], ack[64];
	ssize_t n;
	int i, rc;

	if (argc < 2) {
		fprintf(stderr, "usage: %s NAME [MSG...]\n", argv[0]);
		return 2;
	}
	/* shm_open + ftruncate + mmap, mode 0600, a 1 MiB ring each way; the
	 * name stays private to this uid. */
	snprintf(uri, sizeof(uri), "shm:/%s", argv[1]);
	if ((rc = ipc_open(&ch, uri, IPC_SEND | IPC_RECV | IPC_CREATE, NULL)) < 0) {
		fprintf(stderr, "ipc_open %s: %s\n", uri, ipc_strerror(rc));
		return 1;
	}
	/* The reader may come later: messages wait in the ring. */
	for (i = 2; i < argc; i++) {
		n = ipc_send(ch, argv[i], strlen(argv[i]), -1);
		if (n < 0) {
			fprintf(stderr, "ipc_send: %s\n", ipc_strerror(n));
			ipc_close(ch);
			return 1;
		}
	}
	/* One acknowledgement per message comes back on the other ring. */
	for (i = 2; i < argc; i++) {
		n = ipc_recv(ch, ack, sizeof(ack) - 1, 10000);
		if (n < 0) {
			fprintf(stderr, "ipc_recv: %s\n", ipc_strerror(n));
			ipc_close(ch);
			return 1;
		}
		printf("acknowledged: %.*s\n", (int)n, ack);
	}
	ipc_close(ch);      /* shm_unlink */
	return 0;
}
