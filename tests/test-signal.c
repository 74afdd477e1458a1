/* Signal watchers and ipc_notify. Every case runs in its own forked process
 * (the suite forces Check's fork mode): watchers change the signal mask. */
#include "test-common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int
blocked(int signo)
{
	sigset_t cur;

	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	return sigismember(&cur, signo) == 1;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
notify_parent(void *arg)
{
	int value = *(int *)arg;

	return ipc_notify(getppid(), SIGUSR1, value) == 0 ? 0 : 1;
}

START_TEST(sig_sender_and_payload)
{
	int sigs[] = { SIGUSR1 }, value = 424242;
	struct ipc_siginfo si;
	ipc_sigwatch *w;
	pid_t child;

	ck_assert_int_eq(ipc_sigwatch_open(&w, sigs, 1), 0);
	child = test_fork(notify_parent, &value);
	memset(&si, 0, sizeof(si));
	ck_assert_int_eq(ipc_sigwatch_read(w, &si, 5000), 0);
	ck_assert_int_eq(si.signo, SIGUSR1);
	ck_assert_int_eq(si.pid, child);
	ck_assert_int_eq(si.uid, getuid());
	ck_assert_int_eq(si.value, value);
	ck_assert_int_eq(test_wait(child, 5000), 0);
	ck_assert_int_eq(ipc_sigwatch_close(w), 0);
}
END_TEST

START_TEST(sig_refuses_bad_sets)
{
	int kill9[] = { SIGKILL }, stop[] = { SIGSTOP }, zero[] = { 0 }, neg[] = { -1 };
	int big[] = { _NSIG }, huge[] = { 1000 }, mixed[] = { SIGUSR1, SIGKILL };
	int ok[] = { SIGUSR1 };
	ipc_sigwatch *w = NULL;

	ck_assert_int_eq(ipc_sigwatch_open(&w, kill9, 1), -EINVAL);
	ck_assert_int_eq(ipc_sigwatch_open(&w, stop, 1), -EINVAL);
	ck_assert_int_eq(ipc_sigwatch_open(&w, zero, 1), -EINVAL);
	ck_assert_int_eq(ipc_sigwatch_open(&w, neg, 1), -EINVAL);
	ck_assert_int_eq(ipc_sigwatch_open(&w, big, 1), -EINVAL);
	ck_assert_int_eq(ipc_sigwatch_open(&w, huge, 1), -EINVAL);
	ck_assert_int_eq(ipc_sigwatch_open(&w, mixed, 2), -EINVAL);
	ck_assert_int_eq(ipc_sigwatch_open(&w, ok, 0), -EINVAL);
	ck_assert_int_eq(ipc_sigwatch_open(&w, NULL, 1), -EINVAL);
	ck_assert_int_eq(ipc_sigwatch_open(NULL, ok, 1), -EINVAL);
	ck_assert_ptr_null(w);
	/* A refused set leaves the mask alone, even its valid members. */
	ck_assert(!blocked(SIGUSR1));
	ck_assert_int_eq(ipc_notify(0, SIGUSR1, 1), -EINVAL);
	ck_assert_int_eq(ipc_notify(getpid(), -1, 1), -EINVAL);
	ck_assert_int_eq(ipc_notify(getpid(), 1000, 1), -EINVAL);
	ck_assert_int_eq(ipc_notify(getpid(), 0, 1), 0);   /* existence check only */
	ck_assert_int_eq(ipc_sigwatch_fd(NULL), -EINVAL);
	ck_assert_int_eq(ipc_sigwatch_close(NULL), 0);
}
END_TEST

static int gate[2], ready[2];

/* Says it runs (a thread that has not started yet still has every signal
 * blocked by pthread_create), then waits for the gate. */
static void *
idle_thread(void *arg)
{
	char c;

	(void)arg;
	if (write(ready[1], "r", 1) != 1)
		return NULL;
	while (read(gate[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

static void
thread_started(void)
{
	char c;

	ck_assert_int_eq(read(ready[0], &c, 1), 1);
}

START_TEST(sig_busy_when_a_thread_does_not_block)
{
	int sigs[] = { SIGUSR2 };
	ipc_sigwatch *w = NULL;
	pthread_t t;
	sigset_t set;

	ck_assert_int_eq(pipe2(gate, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, idle_thread, NULL), 0);
	thread_started();
	ck_assert_int_eq(ipc_sigwatch_open(&w, sigs, 1), -EBUSY);
	ck_assert_ptr_null(w);
	ck_assert(!blocked(SIGUSR2));
	ck_assert_int_eq(write(gate[1], "x", 1), 1);
	ck_assert_int_eq(pthread_join(t, NULL), 0);

	/* The same with the signal blocked before the thread starts: accepted. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, idle_thread, NULL), 0);
	thread_started();
	ck_assert_int_eq(ipc_sigwatch_open(&w, sigs, 1), 0);
	ck_assert_int_eq(ipc_sigwatch_close(w), 0);
	ck_assert(blocked(SIGUSR2));   /* it was blocked before: stays blocked */
	ck_assert_int_eq(write(gate[1], "x", 1), 1);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	close(gate[0]);
	close(gate[1]);
	close(ready[0]);
	close(ready[1]);
}
END_TEST

START_TEST(sig_standard_signals_coalesce)
{
	int sigs[] = { SIGUSR1 }, i;
	struct ipc_siginfo si;
	ipc_sigwatch *w;

	ck_assert_int_eq(ipc_sigwatch_open(&w, sigs, 1), 0);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(ipc_notify(getpid(), SIGUSR1, 100 + i), 0);
	ck_assert_int_eq(ipc_sigwatch_read(w, &si, 1000), 0);
	ck_assert_int_eq(si.signo, SIGUSR1);
	ck_assert_int_eq(si.value, 100);   /* the first one; the others merged into it */
	ck_assert_int_eq(si.pid, getpid());
	ck_assert_int_eq(ipc_sigwatch_read(w, &si, 0), -EAGAIN);
	ck_assert_int_eq(ipc_sigwatch_close(w), 0);
}
END_TEST

START_TEST(sig_realtime_signals_queue_in_order)
{
	int sigs[] = { SIGRTMIN }, i, n = 8;
	struct ipc_siginfo si;
	ipc_sigwatch *w;

	ck_assert_int_eq(ipc_sigwatch_open(&w, sigs, 1), 0);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(ipc_notify(getpid(), SIGRTMIN, 1000 + i), 0);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(ipc_sigwatch_read(w, &si, 1000), 0);
		ck_assert_int_eq(si.signo, SIGRTMIN);
		ck_assert_int_eq(si.value, 1000 + i);
	}
	ck_assert_int_eq(ipc_sigwatch_read(w, &si, 0), -EAGAIN);
	ck_assert_int_eq(ipc_sigwatch_close(w), 0);
}
END_TEST

START_TEST(sig_timeouts)
{
	int sigs[] = { SIGUSR1, SIGUSR2 };
	struct ipc_siginfo si;
	ipc_sigwatch *w;
	long long t0;

	ck_assert_int_eq(ipc_sigwatch_open(&w, sigs, 2), 0);
	ck_assert_int_eq(ipc_sigwatch_read(w, &si, 0), -EAGAIN);
	t0 = now_ms();
	ck_assert_int_eq(ipc_sigwatch_read(w, &si, 100), -ETIMEDOUT);
	ck_assert_int_ge(now_ms() - t0, 100);
	ck_assert_int_lt(now_ms() - t0, 30000);    /* bounded, however loaded */
	ck_assert_int_eq(ipc_sigwatch_read(w, &si, -2), -EINVAL);
	ck_assert_int_eq(ipc_sigwatch_read(w, NULL, 0), -EINVAL);
	ck_assert_int_eq(ipc_notify(getpid(), SIGUSR2, 7), 0);
	ck_assert_int_eq(ipc_sigwatch_read(w, &si, 0), 0);
	ck_assert_int_eq(si.signo, SIGUSR2);
	ck_assert_int_eq(ipc_sigwatch_close(w), 0);
}
END_TEST

static void
count_alarm(int s)
{
	(void)s;
}

/* A signal handled elsewhere in the process interrupts the wait; the read
 * keeps waiting for the time that is left. */
START_TEST(sig_read_retries_eintr)
{
	struct sigaction sa = { .sa_handler = count_alarm };   /* no SA_RESTART */
	struct itimerspec it = { .it_value = { 0, 50 * 1000000 } };
	int sigs[] = { SIGUSR1 };
	struct ipc_siginfo si;
	ipc_sigwatch *w;
	timer_t tm;
	long long t0;

	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	ck_assert_int_eq(timer_create(CLOCK_MONOTONIC, NULL, &tm), 0);
	ck_assert_int_eq(ipc_sigwatch_open(&w, sigs, 1), 0);
	t0 = now_ms();
	ck_assert_int_eq(timer_settime(tm, 0, &it, NULL), 0);
	ck_assert_int_eq(ipc_sigwatch_read(w, &si, 300), -ETIMEDOUT);
	ck_assert_int_ge(now_ms() - t0, 300);
	timer_delete(tm);
	ck_assert_int_eq(ipc_sigwatch_close(w), 0);
}
END_TEST

START_TEST(sig_close_restores_mask)
{
	int one[] = { SIGUSR1 }, both[] = { SIGUSR1, SIGUSR2 };
	ipc_sigwatch *a, *b;
	struct ipc_siginfo si;
	sigset_t set;
	int fl;

	ck_assert(!blocked(SIGUSR1));
	ck_assert_int_eq(ipc_sigwatch_open(&a, one, 1), 0);
	ck_assert(blocked(SIGUSR1));
	fl = fcntl(ipc_sigwatch_fd(a), F_GETFD);
	ck_assert(fl & FD_CLOEXEC);
	ck_assert(fcntl(ipc_sigwatch_fd(a), F_GETFL) & O_NONBLOCK);

	/* Overlapping watchers: closing one keeps the other working. */
	ck_assert_int_eq(ipc_sigwatch_open(&b, both, 2), 0);
	ck_assert_int_eq(ipc_sigwatch_close(a), 0);
	ck_assert(blocked(SIGUSR1));
	ck_assert_int_eq(ipc_notify(getpid(), SIGUSR1, 5), 0);
	ck_assert_int_eq(ipc_sigwatch_read(b, &si, 1000), 0);
	ck_assert_int_eq(si.signo, SIGUSR1);
	ck_assert_int_eq(ipc_sigwatch_close(b), 0);
	ck_assert(!blocked(SIGUSR1));
	ck_assert(!blocked(SIGUSR2));

	/* A signal the caller blocked itself stays blocked after close. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &set, NULL), 0);
	ck_assert_int_eq(ipc_sigwatch_open(&a, both, 2), 0);
	ck_assert_int_eq(ipc_sigwatch_close(a), 0);
	ck_assert(!blocked(SIGUSR1));
	ck_assert(blocked(SIGUSR2));

	/* A signal still pending when its last watcher closes is the watcher's:
	 * discarded, not delivered by default action (which would end us). */
	ck_assert_int_eq(ipc_sigwatch_open(&a, one, 1), 0);
	ck_assert_int_eq(ipc_notify(getpid(), SIGUSR1, 1), 0);
	ck_assert_int_eq(ipc_sigwatch_close(a), 0);
	ck_assert(!blocked(SIGUSR1));
	ck_assert_int_eq(sigpending(&set), 0);
	ck_assert(!sigismember(&set, SIGUSR1));
}
END_TEST

/* The mask is per thread: a close from another thread than the opener
 * unblocks nothing there (that thread inherited the block, the library did
 * not make it), and the opener keeps its record of what the library blocked
 * in it. */
struct closer {
	ipc_sigwatch *w;
	int rc, still_blocked;
};

static void *
close_in_thread(void *arg)
{
	struct closer *c = arg;

	c->rc = ipc_sigwatch_close(c->w);
	c->still_blocked = blocked(SIGUSR1);
	return NULL;
}

START_TEST(sig_close_from_another_thread)
{
	int sigs[] = { SIGUSR1 };
	struct closer c = { NULL, -1, 0 };
	ipc_sigwatch *w;
	pthread_t t;

	ck_assert(!blocked(SIGUSR1));
	ck_assert_int_eq(ipc_sigwatch_open(&c.w, sigs, 1), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, close_in_thread, &c), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(c.rc, 0);
	ck_assert_msg(c.still_blocked, "the close unblocked SIGUSR1 in the closing thread");
	ck_assert(blocked(SIGUSR1));    /* the opener's mask: not reachable from there */
	/* What the library blocked in this thread is still its to give back. */
	ck_assert_int_eq(ipc_sigwatch_open(&w, sigs, 1), 0);
	ck_assert_int_eq(ipc_sigwatch_close(w), 0);
	ck_assert(!blocked(SIGUSR1));
}
END_TEST

/* Watchers of one signal opened in two threads: the signal stays blocked
 * while either reads it, and the last close, in a thread that had it blocked
 * already, leaves that thread's mask alone. */
struct reader {
	ipc_sigwatch *w;
	int rc, value, still_blocked;
};

static void *
second_watcher(void *arg)
{
	struct reader *r = arg;
	int sigs[] = { SIGUSR1 };
	struct ipc_siginfo si;
	char c;

	r->rc = ipc_sigwatch_open(&r->w, sigs, 1);
	if (write(ready[1], "r", 1) != 1 || r->rc < 0)
		return NULL;
	while (read(gate[0], &c, 1) < 0 && errno == EINTR)
		;
	if ((r->rc = ipc_sigwatch_read(r->w, &si, 10000)) == 0)
		r->value = si.value;
	if (r->rc == 0)
		r->rc = ipc_sigwatch_close(r->w);
	r->still_blocked = blocked(SIGUSR1);
	return NULL;
}

START_TEST(sig_watchers_in_two_threads)
{
	int sigs[] = { SIGUSR1 };
	struct reader r = { NULL, -1, 0, 0 };
	ipc_sigwatch *w;
	pthread_t t;

	ck_assert_int_eq(pipe2(gate, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
	ck_assert_int_eq(ipc_sigwatch_open(&w, sigs, 1), 0);
	ck_assert_int_eq(pthread_create(&t, NULL, second_watcher, &r), 0);
	thread_started();
	ck_assert_int_eq(ipc_sigwatch_close(w), 0);
	ck_assert(blocked(SIGUSR1));    /* the other thread's watcher still reads it */
	ck_assert_int_eq(ipc_notify(getpid(), SIGUSR1, 77), 0);
	ck_assert_int_eq(write(gate[1], "x", 1), 1);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_int_eq(r.value, 77);
	ck_assert_msg(r.still_blocked, "the last close unblocked SIGUSR1 in a thread "
	              "that had it blocked before its watcher");
	close(gate[0]);
	close(gate[1]);
	close(ready[0]);
	close(ready[1]);
}
END_TEST

/* The descriptor belongs to the watcher; a program that closes or reuses it
 * anyway gets the documented errors, not a crash or a made-up signal. */
START_TEST(sig_read_descriptor_replaced)
{
	int sigs[] = { SIGUSR1 }, p[2], fd;
	struct ipc_siginfo si;
	ipc_sigwatch *w;

	ck_assert_int_eq(ipc_sigwatch_open(&w, sigs, 1), 0);
	fd = ipc_sigwatch_fd(w);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(dup2(p[0], fd), fd);
	ck_assert_int_eq(ipc_sigwatch_read(w, &si, 0), -EIO);   /* a 1-byte record */
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(ipc_sigwatch_read(w, &si, 0), -EBADF);
	ck_assert_int_eq(ipc_sigwatch_close(w), -EBADF);   /* freed all the same */
	ck_assert(!blocked(SIGUSR1));
	close(p[0]);
	close(p[1]);
}
END_TEST

/* A child that execs inherits the blocked mask unless it unblocks first:
 * /proc shows the mask the exec'd program starts with. */
static int
exec_child(void *arg)
{
	int unblock = *(int *)arg;

	if (unblock) {
		sigset_t set;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	execl("/bin/sh", "sh", "-c",
	      "m=$(sed -n 's/^SigBlk:[[:space:]]*//p' /proc/self/status); "
	      "[ $(( 0x$m & 0x200 )) -ne 0 ]", (char *)NULL);
	return 126;
}

START_TEST(sig_exec_inherits_blocked_mask)
{
	int sigs[] = { SIGUSR1 }, keep = 0, unblock = 1;
	ipc_sigwatch *w;

	if (access("/bin/sh", X_OK) != 0)
		test_skip("no /bin/sh");
	ck_assert_int_eq(ipc_sigwatch_open(&w, sigs, 1), 0);
	/* exit 0: SIGUSR1 (bit 9) still blocked in the new program */
	ck_assert_int_eq(test_wait(test_fork(exec_child, &keep), 5000), 0);
	ck_assert_int_eq(test_wait(test_fork(exec_child, &unblock), 5000), 1);
	ck_assert_int_eq(ipc_sigwatch_close(w), 0);
}
END_TEST

static Suite *
signal_suite(void)
{
	Suite *s = suite_create("signal");
	TCase *tc = tcase_create("sigwatch");

	tcase_add_checked_fixture(tc, test_fixture_setup, test_fixture_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, sig_sender_and_payload);
	tcase_add_test(tc, sig_refuses_bad_sets);
	tcase_add_test(tc, sig_busy_when_a_thread_does_not_block);
	tcase_add_test(tc, sig_standard_signals_coalesce);
	tcase_add_test(tc, sig_realtime_signals_queue_in_order);
	tcase_add_test(tc, sig_timeouts);
	tcase_add_test(tc, sig_read_retries_eintr);
	tcase_add_test(tc, sig_close_restores_mask);
	tcase_add_test(tc, sig_close_from_another_thread);
	tcase_add_test(tc, sig_watchers_in_two_threads);
	tcase_add_test(tc, sig_read_descriptor_replaced);
	tcase_add_test(tc, sig_exec_inherits_blocked_mask);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	/* Watchers change the signal mask: each case gets its own process. */
	return test_run_forked(signal_suite());
}
