/* The seed's `ls | wc -l` on libipc. ipc_pipe() with IPC_INHERIT gives ends
 * that are blocking file descriptions, as a plain program expects: the child
 * puts the write end in place of its stdout with dup2() and execs ls, exactly
 * as a shell does; the parent plays wc -l on the read end in raw mode (ls
 * does not speak libipc's framing) and counts the newlines it receives.
 * Build: cc ls-wc.c $(pkg-config --cflags --libs ipc) */
#include <ipc/ipc.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(void)
{
	ipc_channel *end[2];
	char buf[4096];
	long lines = 0;
	ssize_t n;
	int rc, status;
	pid_t pid;

	if ((rc = ipc_pipe(end, IPC_RAW | IPC_INHERIT)) < 0) {
		fprintf(stderr, "ipc_pipe: %s\n", ipc_strerror(rc));
		return 1;
	}
	fflush(stdout);         /* nothing buffered for the child to print twice */
	if ((pid = fork()) < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {                         /* child: ls */
		/* fd 1 now points at the write end. Every descriptor of the
		 * channels is close-on-exec: only the dup2'd one reaches ls. */
		if (dup2(ipc_fd(end[1]), STDOUT_FILENO) < 0) {
			perror("dup2");
			_exit(126);
		}
		execlp("ls", "ls", (char *)NULL);
		perror("exec ls");
		_exit(127);
	}
	ipc_close(end[1]);      /* else we never see the end of the stream */

	/* parent: wc -l. Raw receives return at least one byte, or IPC_EOF
	 * once ls is done. */
	while ((n = ipc_recv(end[0], buf, sizeof(buf), -1)) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	if (n != IPC_EOF)
		fprintf(stderr, "ipc_recv: %s\n", ipc_strerror(n));
	ipc_close(end[0]);
	if (waitpid(pid, &status, 0) < 0) {
		perror("waitpid");
		return 1;
	}
	printf("%ld\n", lines);
	return n == IPC_EOF && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
