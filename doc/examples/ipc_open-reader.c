#include <ipc/ipc.h>
#include <stdio.h>

int
main(void)
{
	ipc_options opt = IPC_OPTIONS_INIT;
	ipc_channel *ch;
	char buf[256];
	ssize_t n;
	int rc;

	opt.max_msg = sizeof(buf);      /* refuse anything larger */
	rc = ipc_open(&ch, "fifo:/tmp/demo.fifo", IPC_RECV | IPC_CREATE, &opt);
	if (rc < 0) {
		fprintf(stderr, "ipc_open: %s\n", ipc_strerror(rc));
		return 1;
	}
	while ((n = ipc_recv(ch, buf, sizeof(buf), -1)) >= 0)
		printf("%.*s\n", (int)n, buf);
	if (n != IPC_EOF)
		fprintf(stderr, "ipc_recv: %s\n", ipc_strerror((int)n));
	ipc_close(ch);          /* the creator removes the FIFO */
	return n == IPC_EOF ? 0 : 1;
}
