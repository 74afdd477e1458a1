/* ipc-bench: measure every libipc transport beside the raw system calls of the
 * same mechanism (and libzmq / nng when built with them), on this machine,
 * round after round. Two processes (parent + forked child), each pinned to a
 * CPU. Per row and message size: round-trip latency (ping-pong, p50 / p99)
 * and one-way streaming throughput (the child sends, the parent receives).
 *
 * The pieces: harness.c (placement, rounds, measuring), report.c (statistics,
 * tables, JSON), rows-*.c (one file per family of rows). */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static void
describe_system(void)
{
	struct utsname u;
	time_t t = time(NULL);
	FILE *f;
	char line[512];

	strftime(B.sys_date, sizeof(B.sys_date), "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
	if (uname(&u) == 0)
		snprintf(B.sys_kernel, sizeof(B.sys_kernel), "%s %s %s", u.sysname, u.release, u.machine);
	snprintf(B.sys_cpu, sizeof(B.sys_cpu), "unknown");
	if ((f = fopen("/proc/cpuinfo", "r"))) {
		while (fgets(line, sizeof(line), f)) {
			char *c = strchr(line, ':');

			if (strncmp(line, "model name", 10) == 0 && c) {
				c += 1 + (c[1] == ' ');
				c[strcspn(c, "\n")] = '\0';
				snprintf(B.sys_cpu, sizeof(B.sys_cpu), "%s", c);
				break;
			}
		}
		fclose(f);
	}
	if (cfg.ncpu < 2)
		snprintf(B.sys_place, sizeof(B.sys_place),
		         "one CPU available: both processes on CPU %d", cfg.cpu_a);
	else if (cfg.same_cpu)
		snprintf(B.sys_place, sizeof(B.sys_place),
		         "both processes on CPU %d (--same-cpu)", cfg.cpu_a);
	else
		snprintf(B.sys_place, sizeof(B.sys_place),
		         "parent on CPU %d, child on CPU %d (different CPUs)", cfg.cpu_a, cfg.cpu_b);
}


static void
usage(FILE *f)
{
	size_t i;

	fprintf(f,
	        "usage: ipc-bench [--quick] [--rounds N] [--same-cpu] [--json] [--only NAME,...]\n"
	        "Measure libipc's transports beside the raw system calls doing the same work.\n"
	        "  --quick      a smoke run of a few seconds a round (few samples)\n"
	        "  --rounds N   run every row N times, alternating the order (default 3, 1..%d)\n"
	        "  --same-cpu   pin both processes to one CPU (default: two different CPUs)\n"
	        "  --json       print machine-readable results (every round) instead of the tables\n"
	        "  --only LIST  rows to run: transports, impls or transport/impl, e.g.\n"
	        "               --only pipe,unix   --only raw   --only shm/raw-spin,signal\n"
	        "  --help       this text\n"
	        "rows:", MAX_ROUNDS);
	for (i = 0; i < bench_nrows(); i++)
		fprintf(f, " %s/%s", bench_row(i)->transport, bench_row(i)->impl);
	fprintf(f, " shm/memcpy signal/raw\n");
}

static int
matches(const char *tok, const char *transport, const char *impl)
{
	char full[64];

	snprintf(full, sizeof(full), "%s/%s", transport, impl);
	return strcmp(tok, transport) == 0 || strcmp(tok, impl) == 0 || strcmp(tok, full) == 0;
}

static int
selected(const char *transport, const char *impl)
{
	int i;

	if (!cfg.nonly)
		return 1;
	for (i = 0; i < cfg.nonly; i++)
		if (matches(cfg.only[i], transport, impl))
			return 1;
	return 0;
}

static int
parse_only(char *list)
{
	char *tok, *save = NULL;
	size_t i;
	int known;

	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		known = matches(tok, "signal", "raw") || matches(tok, "shm", "memcpy");
		for (i = 0; i < bench_nrows() && !known; i++)
			known = matches(tok, bench_row(i)->transport, bench_row(i)->impl);
		if (!known) {
			fprintf(stderr, "ipc-bench: unknown row '%s' (see --help)\n", tok);
			return -1;
		}
		cfg.only = realloc(cfg.only, (size_t)(cfg.nonly + 1) * sizeof(*cfg.only));
		if (!cfg.only)
			return -1;
		cfg.only[cfg.nonly++] = tok;
	}
	return cfg.nonly ? 0 : -1;
}

static void
pick_cpus(void)
{
	cpu_set_t set;
	int i, found = 0;

	cfg.cpu_a = cfg.cpu_b = 0;
	cfg.ncpu = 1;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	cfg.ncpu = CPU_COUNT(&set);
	for (i = 0; i < CPU_SETSIZE && found < 2; i++) {
		if (!CPU_ISSET(i, &set))
			continue;
		if (found++ == 0)
			cfg.cpu_a = cfg.cpu_b = i;
		else
			cfg.cpu_b = i;
	}
	if (cfg.same_cpu || cfg.ncpu < 2)
		cfg.cpu_b = cfg.cpu_a;
}

static void
remove_dir(void)
{
	char p[512];

	if (!cfg.dir[0])
		return;
	/* The tls rows' certificate is made in the measuring process. */
	dir_path(p, sizeof(p), "tls.pem");
	unlink(p);
	dir_path(p, sizeof(p), "tls.key");
	unlink(p);
	rmdir(cfg.dir);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "same-cpu", no_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "only", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sigaction sa;
	const char *tmp = getenv("TMPDIR");
	int64_t *lat, t0 = now_ns();
	char *end;
	long v;
	int c;

	if (bench_rows_init() < 0) {
		fprintf(stderr, "ipc-bench: out of memory\n");
		return 1;
	}
	cfg.rounds = 3;
	while ((c = getopt_long(argc, argv, "qr:sjo:h", opts, NULL)) != -1) {
		switch (c) {
		case 'q': cfg.quick = 1; break;
		case 'r':
			v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end || v < 1 || v > MAX_ROUNDS) {
				fprintf(stderr, "ipc-bench: --rounds takes 1..%d\n", MAX_ROUNDS);
				return 2;
			}
			cfg.rounds = (int)v;
			break;
		case 's': cfg.same_cpu = 1; break;
		case 'j': cfg.json = 1; break;
		case 'o':
			if (parse_only(optarg) < 0)
				return 2;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	/* About 40 rows x 4 sizes x 2 measurements: a minute or two a round by
	 * default, a few seconds quick. */
	cfg.lat_budget = cfg.quick ? 0.015 : 0.2;
	cfg.tput_budget = cfg.quick ? 0.015 : 0.2;
	cfg.lat_min = cfg.quick ? 100 : 500;
	cfg.tput_min = cfg.quick ? 50 : 300;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;    /* no SA_RESTART: a blocked read returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);    /* raw sockets and pipes: EPIPE instead */
	sa.sa_handler = on_terminate;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	pick_cpus();
	if (cfg.ncpu < 2)
		progress("ipc-bench: only one CPU available: running both processes on it\n");
	if (pin_to(cfg.cpu_a) < 0)
		progress("ipc-bench: cannot pin to CPU %d: %s\n", cfg.cpu_a, strerror(errno));
	describe_system();
	progress("ipc-bench: %s\n", B.sys_place);

	snprintf(cfg.dir, sizeof(cfg.dir), "%s/ipc-bench-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(cfg.dir)) {
		fprintf(stderr, "ipc-bench: mkdtemp %s: %s\n", cfg.dir, strerror(errno));
		return 1;
	}
	atexit(remove_dir);
	if (!(lat = malloc(LAT_MAX * sizeof(*lat)))) {
		fprintf(stderr, "ipc-bench: out of memory\n");
		return 1;
	}

	bench_run_rounds(selected, lat);
	if (selected("shm", "memcpy")) {
		progress("memcpy:");
		measure_memcpy();
		progress(" done\n");
	}
	if (selected("signal", "raw"))
		measure_signal(lat);
	free(lat);
	progress("ipc-bench: finished in %.1f s\n", (now_ns() - t0) / 1e9);

	if (cfg.json) {
		print_json();
	} else {
		print_table();
		print_seed_table();
	}
	fflush(stdout);
	return B.nres || B.sig_done ? 0 : 1;
}
