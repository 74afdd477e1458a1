/* Deadlines on the monotonic clock and the one wait every blocking call uses. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ipc-private.h"

int64_t
ipc__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* -1: forever; 0: do not block; else an absolute time, always > 0. */
IPC_EXPORT long long
ipc_deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return -1;
	if (timeout_ms == 0)
		return 0;
	return ipc__now_ns() + (int64_t)timeout_ms * 1000000;
}

int
ipc__deadline_ms(long long deadline_ns)
{
	int64_t left;

	if (deadline_ns < 0)
		return -1;
	if (deadline_ns == 0)
		return 0;
	left = deadline_ns - ipc__now_ns();
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;  /* round up: never wake early and spin */
	return left > INT_MAX ? INT_MAX : (int)left;
}

int
ipc__expired(long long deadline_ns)
{
	if (deadline_ns < 0)
		return 0;
	if (deadline_ns == 0)
		return -EAGAIN;
	return ipc__now_ns() >= deadline_ns ? -ETIMEDOUT : 0;
}

IPC_EXPORT int
ipc_wait_fd(ipc_channel *ch, int fd, short events, long long deadline_ns)
{
	struct pollfd p[2];
	int n, rc;

	for (;;) {
		if (atomic_load_explicit(&ch->shut, memory_order_acquire))
			return IPC_EOF;
		p[0] = (struct pollfd){ .fd = fd, .events = events };
		p[1] = (struct pollfd){ .fd = ch->wakefd, .events = POLLIN };
		n = poll(p, ch->wakefd >= 0 ? 2 : 1, ipc__deadline_ms(deadline_ns));
		if (n < 0) {
			if (errno == EINTR)
				continue;   /* retried with the time left */
			return -errno;
		}
		if (ch->wakefd >= 0 && p[1].revents)
			return IPC_EOF;
		if (p[0].revents & POLLNVAL)
			return -EBADF;
		if (p[0].revents)
			return 0;
		if ((rc = ipc__expired(deadline_ns)) != 0)
			return rc;
	}
}

/* Give a pipe or FIFO room for a 64 KiB message and its frame header in one
 * write (the default 64 KiB is 4 bytes short, which costs a wake-up round
 * trip per message). Best effort: the system limit may refuse it. */
void
ipc__pipe_grow(int fd)
{
	if (fcntl(fd, F_GETPIPE_SZ) < IPC__PIPE_SIZE)
		(void)fcntl(fd, F_SETPIPE_SZ, IPC__PIPE_SIZE);
}

#ifdef IPC_TEST_HOOKS
/* Test-only: IPC_CRASH_AT=<step>[:<n>] makes the process _exit(99) the n-th
 * time (default first) it reaches that step, so tests can kill a peer inside
 * a dangerous window on purpose, every run. Read on every call, so a process
 * that already ran (a forked test child, several tests in one process under
 * CK_FORK=no) sees the value set just now; the count restarts whenever the
 * value differs from the one seen last. Safe from several threads; a process
 * that never sets the variable never takes the lock (so a fork() from a
 * threaded test cannot inherit it held). */
static pthread_mutex_t crash_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int crash_armed;  /* crash_seen is not empty */
static char crash_seen[128];    /* the value the count belongs to */
static long crash_left;         /* hits to go before the crash; 0 once done */

int
ipc__crash_at(const char *step)
{
	const char *want = getenv("IPC_CRASH_AT"), *colon;
	size_t len;
	int hit = 0;

	if ((!want || !*want) && !atomic_load(&crash_armed))
		return 0;
	pthread_mutex_lock(&crash_lock);
	if (!want || !*want || strlen(want) >= sizeof(crash_seen)) {
		crash_seen[0] = 0;
		atomic_store(&crash_armed, 0);
		goto out;
	}
	colon = strchr(want, ':');
	if (strcmp(want, crash_seen) != 0) {
		strcpy(crash_seen, want);
		crash_left = colon ? atol(colon + 1) : 1;
		atomic_store(&crash_armed, 1);
	}
	len = colon ? (size_t)(colon - want) : strlen(want);
	if (strncmp(want, step, len) == 0 && !step[len] && crash_left > 0)
		hit = --crash_left == 0;
out:
	pthread_mutex_unlock(&crash_lock);
	return hit;
}
#endif
