/* The seed's `ls | wc -l` on libipc. The child redirects its stdout into a
 * pipe with dup2() and execs ls, exactly as a shell does; the parent plays
 * wc -l: it wraps the read end as an "fd:" channel in raw mode (ls does not
 * speak libipc's framing) and counts the newlines it receives.
 * Build: cc ls-wc.c $(pkg-config --cflags --libs ipc) */
#include <ipc/ipc.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(void)
{
	ipc_channel *in;
	char uri[32], buf[4096];
	long lines = 0;
	ssize_t n;
	int fd[2], rc, status;
	pid_t pid;

	/* A plain pipe(2) for the exec'd side: ls expects a blocking stdout,
	 * and the descriptors of ipc_pipe() are non-blocking. */
	if (pipe(fd) < 0) {
		perror("pipe");
		return 1;
	}
	fflush(stdout);         /* nothing buffered for the child to print twice */
	if ((pid = fork()) < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {                         /* child: ls */
		dup2(fd[1], STDOUT_FILENO);     /* fd 1 now points at the write end */
		close(fd[0]);
		close(fd[1]);
		execlp("ls", "ls", (char *)NULL);
		perror("exec ls");
		_exit(127);
	}
	close(fd[1]);           /* else we never see the end of the stream */

	/* parent: wc -l. The channel takes ownership of fd[0]. */
	snprintf(uri, sizeof(uri), "fd:%d", fd[0]);
	if ((rc = ipc_open(&in, uri, IPC_RECV | IPC_RAW, NULL)) < 0) {
		fprintf(stderr, "ipc_open %s: %s\n", uri, ipc_strerror(rc));
		return 1;
	}
	/* Raw receives return at least one byte, or IPC_EOF once ls is done. */
	while ((n = ipc_recv(in, buf, sizeof(buf), -1)) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
	if (n != IPC_EOF)
		fprintf(stderr, "ipc_recv: %s\n", ipc_strerror(n));
	ipc_close(in);
	if (waitpid(pid, &status, 0) < 0) {
		perror("waitpid");
		return 1;
	}
	printf("%ld\n", lines);
	return n == IPC_EOF && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
