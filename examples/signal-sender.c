/* The seed's signal sender on libipc: kill(pid, SIGUSR1) becomes a queued
 * signal that carries an integer (sigqueue), which the receiver prints.
 * Usage: signal-sender PID [VALUE [SIGNAL]]   SIGNAL: a number, or USR1, USR2,
 *                                             RTMIN (default USR1, value 0)
 * Build: cc signal-sender.c $(pkg-config --cflags --libs ipc) */
#include <ipc/ipc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
parse_signal(const char *s)
{
	char *end;
	long v;

	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	if (strcmp(s, "USR1") == 0)
		return SIGUSR1;
	if (strcmp(s, "USR2") == 0)
		return SIGUSR2;
	if (strcmp(s, "RTMIN") == 0)
		return SIGRTMIN;
	if (strcmp(s, "TERM") == 0)
		return SIGTERM;
	v = strtol(s, &end, 10);
	return *s && !*end && v > 0 && v < 1000 ? (int)v : -1;
}

int
main(int argc, char **argv)
{
	int value = 0, signo = SIGUSR1, rc;
	char *end;
	long pid;

	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: %s PID [VALUE [SIGNAL]]\n", argv[0]);
		return 2;
	}
	pid = strtol(argv[1], &end, 10);
	if (*end || pid <= 0) {
		fprintf(stderr, "%s: bad pid '%s'\n", argv[0], argv[1]);
		return 2;
	}
	if (argc > 2)
		value = atoi(argv[2]);
	if (argc > 3 && (signo = parse_signal(argv[3])) < 0) {
		fprintf(stderr, "%s: bad signal '%s'\n", argv[0], argv[3]);
		return 2;
	}
	if ((rc = ipc_notify((pid_t)pid, signo, value)) < 0) {
		fprintf(stderr, "ipc_notify %ld: %s\n", pid, ipc_strerror(rc));
		return 1;
	}
	printf("sender pid %ld sent signal %d value %d to %ld\n", (long)getpid(), signo,
	       value, pid);
	return 0;
}
