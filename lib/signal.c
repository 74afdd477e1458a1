/* Signals as readable events: a watcher blocks its set in the calling thread
 * and reads it through a signalfd, so no handler is ever needed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ipc-private.h"

struct ipc_sigwatch {
	int      fd;        /* signalfd, close-on-exec, non-blocking */
	sigset_t set;       /* what this watcher reads */
};

/* How many open watchers of the process read each signal: a signalfd sees a
 * signal only while every thread blocks it, so none is unblocked while any
 * watcher still reads it. The mask itself is per thread, and so is the record
 * of what a watcher opened in this thread blocked here (and only here): a
 * close unblocks in the calling thread what the library blocked in it, never
 * what the thread blocked itself or inherited, whoever opened the watcher. */
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned sig_users[_NSIG];
static _Thread_local sigset_t sig_added;    /* zero (empty) in a new thread */

static int
sig_valid(int signo)
{
	sigset_t probe;

	if (signo <= 0 || signo >= _NSIG || signo == SIGKILL || signo == SIGSTOP)
		return 0;
	sigemptyset(&probe);
	return sigaddset(&probe, signo) == 0;   /* glibc refuses its own internal signals */
}

/* Parse a "SigBlk:\t0000000000000000" line: bit (s - 1) is signal s. */
static int
sig_blocked_in(const char *hex, int signo)
{
	size_t len = strspn(hex, "0123456789abcdefABCDEF");
	size_t bit = (size_t)signo - 1, digit = bit / 4;
	int v;
	char c;

	if (digit >= len)
		return 0;
	c = hex[len - 1 - digit];
	v = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
	return (v >> (bit % 4)) & 1;
}

/* 0 when every other thread of the process blocks all of @p set; -EBUSY when
 * one does not. Without /proc the check cannot be made and passes. */
static int
sig_others_block(const sigset_t *set)
{
	pid_t self = (pid_t)syscall(SYS_gettid);
	struct dirent *e;
	char path[300], line[256];
	DIR *d;
	int rc = 0, s;

	if (!(d = opendir("/proc/self/task")))
		return 0;
	while (rc == 0 && (e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9' || atoi(e->d_name) == self)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		if (!(f = fopen(path, "re")))
			continue;   /* the thread has exited meanwhile */
		while (fgets(line, sizeof(line), f)) {
			if (strncmp(line, "SigBlk:", 7) != 0)
				continue;
			for (s = 1; s < _NSIG; s++)
				if (sigismember(set, s) == 1 &&
				    !sig_blocked_in(line + 7 + strspn(line + 7, " \t"), s)) {
					rc = -EBUSY;
					break;
				}
			break;
		}
		fclose(f);
	}
	closedir(d);
	return rc;
}

/* Give back, in the calling thread, the signals of @p set whose last watcher
 * is going away and that the library blocked in this thread. Called with
 * sig_lock held. */
static void
sig_release(const sigset_t *set)
{
	sigset_t unblock;
	int s;

	sigemptyset(&unblock);
	for (s = 1; s < _NSIG; s++) {
		if (sigismember(set, s) != 1)
			continue;
		if (sig_users[s] > 0 && --sig_users[s] == 0 && sigismember(&sig_added, s) == 1) {
			sigaddset(&unblock, s);
			sigdelset(&sig_added, s);
		}
	}
	/* The watcher stood in for these signals' handling: what is still
	 * pending is its to take, not the default action's (which for most
	 * signals would end the process the moment they are unblocked). */
	for (s = 1; s < _NSIG; s++)
		if (sigismember(&unblock, s) == 1)
			break;
	if (s < _NSIG) {
		struct timespec zero = { 0, 0 };

		while (sigtimedwait(&unblock, NULL, &zero) > 0 || errno == EINTR)
			;
	}
	pthread_sigmask(SIG_UNBLOCK, &unblock, NULL);
}

IPC_EXPORT int
ipc_sigwatch_open(ipc_sigwatch **out, const int *signals, size_t n)
{
	ipc_sigwatch *w;
	sigset_t set, old;
	size_t i;
	int rc, s;

	if (!out || !signals || n == 0)
		return -EINVAL;
	sigemptyset(&set);
	for (i = 0; i < n; i++) {
		if (!sig_valid(signals[i]))
			return -EINVAL;
		sigaddset(&set, signals[i]);
	}
	if ((rc = sig_others_block(&set)) < 0)
		return rc;
	if (!(w = calloc(1, sizeof(*w))))
		return -ENOMEM;
	w->set = set;

	pthread_mutex_lock(&sig_lock);
	if ((rc = pthread_sigmask(SIG_BLOCK, &set, &old)) != 0) {
		pthread_mutex_unlock(&sig_lock);
		free(w);
		return -rc;
	}
	for (s = 1; s < _NSIG; s++) {
		if (sigismember(&set, s) != 1)
			continue;
		if (sigismember(&old, s) != 1)
			sigaddset(&sig_added, s);
		sig_users[s]++;
	}
	w->fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (w->fd < 0) {
		rc = -errno;
		sig_release(&set);
		pthread_mutex_unlock(&sig_lock);
		free(w);
		return rc;
	}
	pthread_mutex_unlock(&sig_lock);
	*out = w;
	return 0;
}

IPC_EXPORT int
ipc_sigwatch_fd(const ipc_sigwatch *w)
{
	return w ? w->fd : -EINVAL;
}

IPC_EXPORT int
ipc_sigwatch_read(ipc_sigwatch *w, struct ipc_siginfo *out, int timeout_ms)
{
	struct signalfd_siginfo si;
	long long deadline;
	struct pollfd p;
	ssize_t got;
	int rc;

	if (!w || !out || timeout_ms < -1)
		return -EINVAL;
	deadline = ipc_deadline(timeout_ms);
	for (;;) {
		got = read(w->fd, &si, sizeof(si));
		if (got == (ssize_t)sizeof(si))
			break;
		if (got >= 0)
			return -EIO;    /* the kernel never hands out part of a record */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if ((rc = ipc__expired(deadline)) != 0)
			return rc;
		p = (struct pollfd){ .fd = w->fd, .events = POLLIN };
		if (poll(&p, 1, ipc__deadline_ms(deadline)) < 0 && errno != EINTR)
			return -errno;
	}
	out->signo = (int)si.ssi_signo;
	out->pid = (pid_t)si.ssi_pid;
	out->uid = (uid_t)si.ssi_uid;
	out->value = si.ssi_int;
	return 0;
}

IPC_EXPORT int
ipc_sigwatch_close(ipc_sigwatch *w)
{
	int rc = 0;

	if (!w)
		return 0;
	if (close(w->fd) < 0)
		rc = -errno;
	pthread_mutex_lock(&sig_lock);
	sig_release(&w->set);
	pthread_mutex_unlock(&sig_lock);
	free(w);
	return rc;
}

IPC_EXPORT int
ipc_notify(pid_t pid, int signo, int value)
{
	union sigval v = { .sival_int = value };

	/* 0 only checks that @p pid exists, as with kill(2); SIGKILL and SIGSTOP
	 * may be sent, they just cannot be watched. */
	if (pid <= 0)
		return -EINVAL;
	if (signo != 0 && signo != SIGKILL && signo != SIGSTOP && !sig_valid(signo))
		return -EINVAL;
	if (sigqueue(pid, signo, v) < 0)
		return -errno;
	return 0;
}
