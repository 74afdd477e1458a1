/* The seed's semaphore race: N processes increment one counter in shared
 * memory. Without a semaphore, two of them may read the same value and one
 * increment is lost (how many, if any, depends on the scheduler: this run
 * only shows what it saw); with a process-shared semaphore around the
 * read-modify-write, none is, and the exit status says so. Plain POSIX shm + a named semaphore, the seed's
 * own flow (shm_open, ftruncate, mmap, sem_open, sem_wait/sem_post, unlink):
 * this is the textbook mechanism libipc's shm: transport replaces.
 * Usage: sem-counter [PROCS [ITERATIONS]]
 * Build: cc sem-counter.c $(pkg-config --cflags --libs ipc) */
#include <fcntl.h>
#include <ipc/ipc.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static void
bump(volatile long *counter, sem_t *sem, long iterations)
{
	long i, v;

	for (i = 0; i < iterations; i++) {
		if (sem)
			sem_wait(sem);          /* lock */
		v = *counter;               /* read ... */
		if (i % 16 == 0)
			sched_yield();      /* ... let another process run in between ... */
		*counter = v + 1;           /* ... write back */
		if (sem)
			sem_post(sem);          /* unlock */
	}
}

static long
race(int procs, long iterations, int with_sem)
{
	char shm_name[64], sem_name[64];
	volatile long *counter;
	sem_t *sem = NULL;
	long result;
	int fd, i;

	snprintf(shm_name, sizeof(shm_name), "/sem-counter-%ld", (long)getpid());
	snprintf(sem_name, sizeof(sem_name), "/sem-counter-%ld", (long)getpid());
	fd = shm_open(shm_name, O_CREAT | O_EXCL | O_RDWR, 0600);
	if (fd < 0 || ftruncate(fd, sizeof(long)) < 0) {
		perror("shm_open");
		exit(1);
	}
	counter = mmap(NULL, sizeof(long), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	shm_unlink(shm_name);       /* the mapping stays; the children inherit it */
	if (counter == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	*counter = 0;
	if (with_sem) {
		sem = sem_open(sem_name, O_CREAT | O_EXCL, 0600, 1);   /* binary: a mutex */
		if (sem == SEM_FAILED) {
			perror("sem_open");
			exit(1);
		}
		sem_unlink(sem_name);
	}
	fflush(stdout);     /* else each child inherits, and may flush, our buffered lines */
	fflush(stderr);
	for (i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			exit(1);
		}
		if (pid == 0) {
			bump(counter, sem, iterations);
			_exit(0);
		}
	}
	for (i = 0; i < procs; i++)
		wait(NULL);
	result = *counter;
	if (sem)
		sem_close(sem);
	munmap((void *)counter, sizeof(long));
	return result;
}

int
main(int argc, char **argv)
{
	int procs = argc > 1 ? atoi(argv[1]) : 4;
	long iterations = argc > 2 ? atol(argv[2]) : 20000, expect, got;

	if (procs < 2 || iterations < 1) {
		fprintf(stderr, "usage: %s [PROCS>=2 [ITERATIONS]]  (%s)\n", argv[0], ipc_version());
		return 2;
	}
	expect = procs * iterations;
	got = race(procs, iterations, 0);
	printf("without semaphore: counter %ld, expected %ld, lost %ld\n", got, expect,
	       expect - got);
	got = race(procs, iterations, 1);
	printf("with semaphore: counter %ld, expected %ld, lost %ld\n", got, expect,
	       expect - got);
	return got == expect ? 0 : 1;
}
