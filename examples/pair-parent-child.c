/* A parent and a child talking both ways over ipc_pair(): the parent asks,
 * the child answers each question, and both see the other's end.
 * Build: cc pair-parent-child.c $(pkg-config --cflags --libs ipc) */
#include <ipc/ipc.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(void)
{
	static const char *questions[] = { "2+2", "6*7", "10-1" };
	static const char *answers[] = { "4", "42", "9" };
	ipc_channel *end[2];
	char buf[64];
	ssize_t n;
	int rc, status;
	size_t i;
	pid_t pid;

	if ((rc = ipc_pair(end, 0)) < 0) {
		fprintf(stderr, "ipc_pair: %s\n", ipc_strerror(rc));
		return 1;
	}
	fflush(stdout);
	if ((pid = fork()) < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {                 /* child: answers on end[1] */
		ipc_close(end[0]);
		while ((n = ipc_recv(end[1], buf, sizeof(buf), 5000)) >= 0) {
			for (i = 0; i < 3; i++)
				if ((size_t)n == strlen(questions[i]) &&
				    memcmp(buf, questions[i], (size_t)n) == 0)
					break;
			const char *a = i < 3 ? answers[i] : "?";

			if (ipc_send(end[1], a, strlen(a), 5000) < 0)
				_exit(1);
		}
		ipc_close(end[1]);
		_exit(n == IPC_EOF ? 0 : 1);
	}
	ipc_close(end[1]);              /* parent: asks on end[0] */
	for (i = 0; i < 3; i++) {
		if ((rc = (int)ipc_send(end[0], questions[i], strlen(questions[i]), 5000)) < 0 ||
		    (n = ipc_recv(end[0], buf, sizeof(buf), 5000)) < 0) {
			fprintf(stderr, "%s: %s\n", questions[i], ipc_strerror(rc < 0 ? rc : (int)n));
			return 1;
		}
		printf("%s = %.*s\n", questions[i], (int)n, buf);
	}
	ipc_close(end[0]);              /* the child reads IPC_EOF and exits */
	if (waitpid(pid, &status, 0) < 0) {
		perror("waitpid");
		return 1;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
