/* The seed's pipe() + fork() on libipc: the parent sends one message down an
 * anonymous pipe, the child receives it whole and prints it.
 * Build: cc pipe-parent-child.c $(pkg-config --cflags --libs ipc) */
#include <ipc/ipc.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(void)
{
	const char *msg = "hello from the parent";
	ipc_channel *ch[2];     /* like pipe(2): ch[0] receives, ch[1] sends */
	char buf[256];
	ssize_t n;
	pid_t pid;
	int rc, status;

	if ((rc = ipc_pipe(ch, 0)) < 0) {
		fprintf(stderr, "ipc_pipe: %s\n", ipc_strerror(rc));
		return 1;
	}
	fflush(stdout);         /* nothing buffered for the child to print twice */
	if ((pid = fork()) < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {                 /* child: reader */
		ipc_close(ch[1]);
		n = ipc_recv(ch[0], buf, sizeof(buf) - 1, -1);
		if (n < 0) {
			fprintf(stderr, "child: ipc_recv: %s\n", ipc_strerror(n));
			return 1;
		}
		buf[n] = '\0';          /* a message knows its length: no NUL sent */
		printf("child %d received: %s\n", (int)getpid(), buf);
		ipc_close(ch[0]);
		return 0;
	}
	ipc_close(ch[0]);               /* parent: writer */
	if ((n = ipc_send(ch[1], msg, strlen(msg), -1)) < 0)
		fprintf(stderr, "parent: ipc_send: %s\n", ipc_strerror(n));
	ipc_close(ch[1]);
	if (waitpid(pid, &status, 0) < 0) {
		perror("waitpid");
		return 1;
	}
	return n >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
