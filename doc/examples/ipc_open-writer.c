#include <ipc/ipc.h>
#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
	ipc_options opt = IPC_OPTIONS_INIT;
	ipc_channel *ch;
	int i, rc;

	opt.open_timeout_ms = 5000;     /* wait at most 5 s for a reader */
	rc = ipc_open(&ch, "fifo:/tmp/demo.fifo", IPC_SEND, &opt);
	if (rc < 0) {
		fprintf(stderr, "ipc_open: %s\n", ipc_strerror(rc));
		return 1;
	}
	for (i = 1; i < argc && rc >= 0; i++)
		rc = (int)ipc_send(ch, argv[i], strlen(argv[i]), -1);
	ipc_close(ch);
	return rc < 0;
}
