#include <ipc/ipc.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(void)
{
	ipc_channel *end[2];
	char buf[64];
	ssize_t n;
	int rc;

	if ((rc = ipc_pipe(end, 0)) < 0) {
		fprintf(stderr, "ipc_pipe: %s\n", ipc_strerror(rc));
		return 1;
	}
	if (fork() == 0) {                      /* child: sends */
		ipc_close(end[0]);
		ipc_send(end[1], "hello, parent", 13, -1);
		ipc_close(end[1]);
		_exit(0);
	}
	ipc_close(end[1]);                      /* parent: receives */
	while ((n = ipc_recv(end[0], buf, sizeof(buf), 5000)) >= 0)
		printf("got %zd bytes: %.*s\n", n, (int)n, buf);
	printf("then: %s\n", ipc_strerror((int)n));
	ipc_close(end[0]);
	wait(NULL);
	return 0;
}
