/* The seed's signal receiver on libipc: no handler, no pause(). A watcher
 * turns SIGUSR1 (and SIGRTMIN, whose payloads queue) into something to read,
 * so printing what arrived is plain code, not async-signal-unsafe code.
 * Usage: signal-receiver [COUNT]   stop after COUNT signals (default: never;
 *                                  SIGINT or SIGTERM end it too)
 * Then:  signal-sender PID [VALUE]
 * Build: cc signal-receiver.c $(pkg-config --cflags --libs ipc) */
#include <ipc/ipc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *
signame(int signo)
{
	if (signo == SIGUSR1)
		return "USR1";
	if (signo == SIGUSR2)
		return "USR2";
	if (signo == SIGRTMIN)
		return "RTMIN";
	if (signo == SIGINT)
		return "INT";
	return signo == SIGTERM ? "TERM" : "?";
}

int
main(int argc, char **argv)
{
	int sigs[] = { SIGUSR1, SIGUSR2, SIGRTMIN, SIGINT, SIGTERM };
	long count = argc > 1 ? atol(argv[1]) : 0, seen = 0;
	struct ipc_siginfo si;
	ipc_sigwatch *w;
	int rc;

	if (argc > 2 || count < 0) {
		fprintf(stderr, "usage: %s [COUNT]\n", argv[0]);
		return 2;
	}
	/* Blocks these signals in this (only) thread and opens a signalfd. */
	if ((rc = ipc_sigwatch_open(&w, sigs, sizeof(sigs) / sizeof(sigs[0]))) < 0) {
		fprintf(stderr, "ipc_sigwatch_open: %s\n", ipc_strerror(rc));
		return 1;
	}
	printf("receiver pid %ld\n", (long)getpid());
	fflush(stdout);
	while (count == 0 || seen < count) {
		if ((rc = ipc_sigwatch_read(w, &si, -1)) < 0) {
			fprintf(stderr, "ipc_sigwatch_read: %s\n", ipc_strerror(rc));
			break;
		}
		if (si.signo == SIGINT || si.signo == SIGTERM) {
			printf("signal %s: stopping\n", signame(si.signo));
			break;
		}
		printf("signal %s from pid %ld uid %ld value %d\n", signame(si.signo),
		       (long)si.pid, (long)si.uid, si.value);
		fflush(stdout);
		seen++;
	}
	ipc_sigwatch_close(w);   /* restores the signal mask */
	return rc < 0;
}
