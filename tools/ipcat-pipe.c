/* ipcat --pipe CMD...: run CMD with a channel on its stdin and stdout.
 *
 * The child gets two plain blocking pipes dup2()'d onto 0 and 1 (a program
 * that is exec'd expects blocking descriptors), and we open our ends with
 * fd: URIs. Two channels, not one, so that the end of our input can be the
 * end of the child's input while we still read what it prints.
 *
 * When the library gains IPC_INHERIT (version 0.2), make_ends() becomes two
 * ipc_pipe(ends, IPC_INHERIT | raw) calls and the child dup2()s ipc_fd() of
 * its two ends: nothing else here changes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ipcat.h"

/* Descriptors above 2, close-on-exec, so that dup2() onto 0 and 1 in the
 * child can never land on one of its own sources. */
static int
high_pipe(int fds[2])
{
	int p[2], i, rc = 0;

	fds[0] = fds[1] = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	for (i = 0; i < 2; i++) {
		fds[i] = fcntl(p[i], F_DUPFD_CLOEXEC, 3);
		if (fds[i] < 0)
			rc = -errno;
		close(p[i]);
	}
	if (rc < 0) {
		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
	}
	return rc;
}

/* to_child: we write [1], the child reads [0]; from_child: the child
 * writes [1], we read [0]. */
static int
make_ends(int to_child[2], int from_child[2])
{
	int rc;

	if ((rc = high_pipe(to_child)) < 0)
		return rc;
	if ((rc = high_pipe(from_child)) < 0) {
		close(to_child[0]);
		close(to_child[1]);
	}
	return rc;
}

static int
open_end(ipc_channel **ch, int fd, int flags, const struct cat *c)
{
	char uri[32];

	snprintf(uri, sizeof(uri), "fd:%d", fd);
	return ipc_open(ch, uri, flags | (c->o->split == SPLIT_RAW ? IPC_RAW : 0), &c->o->opt);
}

int
pipe_spawn(struct cat *c, char **argv, struct cat_peer *p, pid_t *child)
{
	int to[2], from[2], rc;
	pid_t pid;

	if ((rc = make_ends(to, from)) < 0)
		return cat_fail("pipe", rc);
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		rc = -errno;
		close(to[0]);
		close(to[1]);
		close(from[0]);
		close(from[1]);
		return cat_fail("fork", rc);
	}
	if (pid == 0) {
		/* The watcher's signals are blocked in us and SIGPIPE ignored:
		 * the command gets the mask and dispositions we were started with. */
		sigprocmask(SIG_SETMASK, &c->oldmask, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (dup2(to[0], 0) < 0 || dup2(from[1], 1) < 0) {
			fprintf(stderr, "ipcat: dup2: %s\n", strerror(errno));
			_exit(127);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "ipcat: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	*child = pid;
	p->rx = p->tx = NULL;
	if ((c->o->dir & DIR_RECV) && (rc = open_end(&p->rx, from[0], IPC_RECV, c)) < 0) {
		close(from[0]);
		close(to[1]);
		return cat_fail(argv[0], rc);
	}
	if (!p->rx)
		close(from[0]);
	if ((c->o->dir & DIR_SEND) && (rc = open_end(&p->tx, to[1], IPC_SEND, c)) < 0) {
		close(to[1]);
		return cat_fail(argv[0], rc);
	}
	if (!p->tx)
		close(to[1]);   /* the child reads end of file at once */
	return CAT_OK;
}

/* Wait for the child, still answering signals: SIGINT/SIGTERM are passed
 * on to it. @return CAT_OK when it exited 0, else CAT_ERROR with one line. */
int
pipe_reap(struct cat *c, pid_t child, const char *name)
{
	struct ipc_siginfo si;
	int status, forwarded = 0;
	pid_t r;

	for (;;) {
		r = waitpid(child, &status, WNOHANG);
		if (r == child)
			break;
		if (r < 0 && errno != EINTR) {
			fprintf(stderr, "ipcat: %s: waitpid: %s\n", name, strerror(errno));
			return CAT_ERROR;
		}
		if (c->stop && !forwarded) {
			kill(child, SIGTERM);
			forwarded = 1;
		}
		/* SIGCHLD is in the watcher's set: this wakes when the child ends. */
		if (ipc_sigwatch_read(c->w, &si, 1000) == 0)
			loop_signal(c, &si);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return CAT_OK;
	if (c->stop)
		return CAT_OK;      /* we were asked to stop, and so was it (by us, or
		                       by the same signal to the process group) */
	if (WIFEXITED(status))
		fprintf(stderr, "ipcat: %s: exited with status %d\n", name, WEXITSTATUS(status));
	else
		fprintf(stderr, "ipcat: %s: killed by signal %d\n", name, WTERMSIG(status));
	return CAT_ERROR;
}
