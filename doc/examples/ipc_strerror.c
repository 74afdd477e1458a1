#include <ipc/ipc.h>
#include <stdio.h>
#include <string.h>

int
main(void)
{
	ipc_channel *ch;
	int rc;

	printf("built with libipc %s, running %s\n", IPC_VERSION_STRING, ipc_version());
	if (strcmp(ipc_version(), IPC_VERSION_STRING) != 0)
		fprintf(stderr, "note: the installed library differs from the headers\n");

	rc = ipc_open(&ch, "fifo:/nonexistent/demo.fifo", IPC_RECV, NULL);
	if (rc < 0) {
		fprintf(stderr, "ipc_open: %s (%d)\n", ipc_strerror(rc), rc);
		return 1;
	}
	ipc_close(ch);
	return 0;
}
