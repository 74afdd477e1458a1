#include <ipc/ipc.h>
#include <signal.h>
#include <stdio.h>

/* Print who signals us and with what, until SIGTERM. No handler: the
 * signals are read like messages. Try: kill -USR1 <pid>, or
 * ipc_notify(pid, SIGUSR1, 42) from another program. */
int
main(void)
{
	int sigs[] = { SIGUSR1, SIGTERM };
	struct ipc_siginfo si;
	ipc_sigwatch *w;
	int rc;

	/* First thing, before any thread exists. */
	if ((rc = ipc_sigwatch_open(&w, sigs, 2)) < 0) {
		fprintf(stderr, "ipc_sigwatch_open: %s\n", ipc_strerror(rc));
		return 1;
	}
	while ((rc = ipc_sigwatch_read(w, &si, -1)) == 0 && si.signo != SIGTERM) {
		printf("signal %d from pid %ld uid %ld value %d\n", si.signo,
		       (long)si.pid, (long)si.uid, si.value);
		fflush(stdout);
	}
	ipc_sigwatch_close(w);     /* SIGUSR1 and SIGTERM unblocked again */
	return rc < 0;
}
