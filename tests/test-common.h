/* Helpers shared by every Check suite. */
#ifndef TEST_COMMON_H
#define TEST_COMMON_H

#include <check.h>
#include <ipc/ipc.h>
#include <sys/types.h>

/* Scale for stress tests: IPC_STRESS=10 runs ten times the messages (and
 * under valgrind a tenth of them). */
long test_scale(long n);

/* A fresh mkdtemp() directory for this test (removed by the fixture). */
const char *test_dir(void);
/* Build "<test_dir()>/<name>" into a static buffer. */
const char *test_path(const char *name);

/* Number of open descriptors of this process (/proc/self/fd). */
int test_fd_count(void);

/* Checked fixture: fresh test_dir(), and fails the test if the number of open
 * descriptors changed or the directory holds leftovers. */
void test_fixture_setup(void);
void test_fixture_teardown(void);

/* A connected pair over @p scheme in this process: *tx sends, *rx receives
 * (both directions work where the transport is two-way). @p flags adds
 * IPC_RAW. @p opt may be NULL. Returns 0 or a negative code. */
int  test_pair_opt(const char *scheme, ipc_channel **tx, ipc_channel **rx, int flags,
                   const ipc_options *opt);
int  test_pair(const char *scheme, ipc_channel **tx, ipc_channel **rx);
void test_unpair(ipc_channel *tx, ipc_channel *rx);
/* Non-zero when @p scheme carries both directions on one channel. */
int  test_two_way(const char *scheme);

/* Fork a child that runs fn(arg) and _exit()s with its return value
 * (stdio is flushed first: nothing buffered is printed twice). */
pid_t test_fork(int (*fn)(void *), void *arg);
/* Wait for @p pid at most @p ms; SIGKILL it if it overstays. Returns its exit
 * status (0..255), 128+signal if killed by one, or -1 on timeout. */
int test_wait(pid_t pid, int ms);

/* The calling thread's id, for test_wait_asleep(). */
pid_t test_tid(void);
/* Wait at most @p ms until thread (or process) @p tid sleeps in the kernel
 * (state S or D in /proc). Returns 0, or -1 if it did not. It only makes it
 * likely that the other side is blocked in the call under test before this
 * side acts: no verdict may depend on it, and no sleep stands in for it. */
int test_wait_asleep(pid_t tid, int ms);

/* Run @p s with CK_ENV; exit 0 / 1. Call from main(). The _forked variant
 * gives every case its own process whatever CK_FORK says (for suites that
 * change signal masks or install handlers). */
int test_run(Suite *s);
int test_run_forked(Suite *s);

/* A transport of the tests' own, registered through the public driver
 * interface: "seqpacket:N" wraps a SOCK_SEQPACKET descriptor. */
extern const struct ipc_driver test_seqpacket_driver;
/* A connected pair of channels of @p scheme (a registered copy of the
 * driver above) over a fresh socketpair. */
void test_seqpacket_pair(const char *scheme, ipc_channel **a, ipc_channel **b);

/* Non-zero when a listening transport for @p uri is built in. */
int test_have_listener(const char *uri);

/* tls: the certificates of tests/tls-certs.sh (named by IPC_TEST_TLS_CERTS;
 * extra SANs from IPC_TEST_TLS_SAN), made on the first call in a directory
 * the calling process removes at exit. Call it before forking. Skips without
 * the openssl command. */
const char *test_tls_certs(void);
/* "<certs>/<name>" in one of a few static buffers. */
const char *test_tls_file(const char *name);
/* @p name.pem / @p name.key (NULL: no certificate), ca.pem, @p flags. */
void test_tls_conf(struct ipc_tls *t, const char *name, unsigned flags);

/* Print why and exit 77 (meson's "skipped"). */
void test_skip(const char *why) __attribute__((noreturn));

/* Non-zero when the library under test has its test hooks (crash points,
 * IPC_TEST_* variables): built with -Dtest_hooks=true, which tests/meson.build
 * passes on to the tests as IPC_TEST_HOOKS. */
int test_have_hooks(void);
/* For a run made only of cases that need the hooks: exit 77 saying so (and
 * what is skipped) when the library has none. */
void test_need_hooks(const char *what);

/* Non-zero when this process runs under valgrind (RUNNING_ON_VALGRIND where
 * valgrind/valgrind.h was found, else IPC_TEST_VALGRIND, which meson test
 * --setup=valgrind sets). */
int test_under_valgrind(void);
/* Exit 77 saying why when under valgrind: for a run that cannot work there. */
void test_skip_under_valgrind(const char *why);

#endif
