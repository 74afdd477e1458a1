/* ipc-bench report: statistics over rounds (median, min-max of each ratio,
 * the placement regime each round saw), the tables, and the JSON output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ipc/version.h>

#include "bench.h"

#define FAR_FACTOR 1.5    /* a floor this much slower than the run's best: "far" */
#define SPREAD     0.15   /* a ratio's min-max beyond +-15% of its median is flagged */

/* ------------------------------------------------------------ statistics */

static int
cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const struct result *
find_round(const char *transport, const char *impl, size_t size, int round)
{
	int i;

	for (i = 0; i < B.nres; i++)
		if (B.res[i].ok && B.res[i].size == size && B.res[i].round == round &&
		    strcmp(B.res[i].transport, transport) == 0 && strcmp(B.res[i].impl, impl) == 0)
			return &B.res[i];
	return NULL;
}

/* 'c' (close) or 'f' (far) for a round, from the floor probes: relative to
 * the fastest floor of this run, so one run's rounds compare among
 * themselves; '?' when the round's floor was not measured. */
static char
regime(int round)
{
	double best = 0;
	int i;

	if (!B.floor[round].ok)
		return '?';
	for (i = 0; i < cfg.rounds; i++)
		if (B.floor[i].ok && (best == 0 || B.floor[i].p50_us < best))
			best = B.floor[i].p50_us;
	return B.floor[round].p50_us > FAR_FACTOR * best ? 'f' : 'c';
}

/* One cell over the rounds: medians of its figures and of its ratios. */
struct cell {
	int n;                          /* rounds that measured it */
	double p50_us, p99_us, msgs, mbs;
	int nr;                         /* rounds with a ratio */
	double lat_med, lat_min, lat_max, tput_med, tput_min, tput_max;
	char regimes[MAX_ROUNDS + 1];   /* of the rounds behind the ratios */
};

static int
cell_of(const char *transport, const char *impl, const char *base, size_t size,
        struct cell *c)
{
	double p50[MAX_ROUNDS], p99[MAX_ROUNDS], msgs[MAX_ROUNDS], mbs[MAX_ROUNDS];
	double lr[MAX_ROUNDS], tr[MAX_ROUNDS];
	int round, nl = 0;

	memset(c, 0, sizeof(*c));
	for (round = 0; round < cfg.rounds; round++) {
		const struct result *r = find_round(transport, impl, size, round);
		const struct result *b = base ? find_round(transport, base, size, round) : NULL;

		if (!r)
			continue;
		p50[c->n] = r->p50_us;
		p99[c->n] = r->p99_us;
		msgs[c->n] = r->msgs;
		mbs[c->n] = r->mbs;
		c->n++;
		if (!b || b->msgs <= 0)
			continue;
		tr[c->nr] = r->msgs / b->msgs;
		if (r->has_lat && b->has_lat && b->p50_us > 0)
			lr[nl++] = r->p50_us / b->p50_us;
		c->regimes[c->nr++] = regime(round);
	}
	if (!c->n)
		return 0;
	c->p50_us = median(p50, c->n);
	c->p99_us = median(p99, c->n);
	c->msgs = median(msgs, c->n);
	c->mbs = median(mbs, c->n);
	if (c->nr) {
		c->tput_med = median(tr, c->nr);
		c->tput_min = tr[0];
		c->tput_max = tr[c->nr - 1];
	}
	if (nl) {
		c->lat_med = median(lr, nl);
		c->lat_min = lr[0];
		c->lat_max = lr[nl - 1];
	}
	return 1;
}

static int
spread_ok(double med, double lo, double hi)
{
	return med <= 0 || (lo >= med * (1 - SPREAD) && hi <= med * (1 + SPREAD));
}

static void
fmt_ratio(char *out, size_t cap, double med, double lo, double hi, int n)
{
	if (med <= 0)
		snprintf(out, cap, "-");
	else if (n < 2)
		snprintf(out, cap, "%.2f", med);
	else
		snprintf(out, cap, "%.2f %.2f-%.2f%s", med, lo, hi,
		         spread_ok(med, lo, hi) ? "" : "!");
}

void
fmt_size(char *out, size_t cap, size_t size)
{
	if (size >= (1u << 20))
		snprintf(out, cap, "%zu MiB", size >> 20);
	else if (size >= 1024)
		snprintf(out, cap, "%zu KiB", size / 1024);
	else
		snprintf(out, cap, "%zu B", size);
}

/* Median over rounds of one figure of one cell (0: not measured). */
static double
med_msgs(const char *transport, const char *impl, size_t size)
{
	struct cell c;

	return cell_of(transport, impl, NULL, size, &c) ? c.msgs : 0;
}

static double
med_p50(const char *transport, const char *impl, size_t size)
{
	struct cell c;

	return cell_of(transport, impl, NULL, size, &c) ? c.p50_us : 0;
}

static double
med_mbs(const char *transport, const char *impl, size_t size)
{
	struct cell c;

	return cell_of(transport, impl, NULL, size, &c) ? c.mbs : 0;
}

/* ------------------------------------------------------------ tables */

static void
print_rounds(void)
{
	int i;

	printf("rounds:    %d; each ratio: median over rounds, then min-max (! = beyond +-%.0f%%)\n",
	       cfg.rounds, 100 * SPREAD);
	printf("regimes:   the busy-poll floor's 64 B figures at the start of each round; "
	       "c = close, f = far\n           (p50 over %.1fx the run's fastest floor):",
	       FAR_FACTOR);
	for (i = 0; i < cfg.rounds; i++) {
		if (B.floor[i].ok)
			printf("%s %d %c (%.2f us, %.2f M msg/s)", i ? "," : "", i + 1, regime(i),
			       B.floor[i].p50_us, B.floor[i].msgs / 1e6);
		else
			printf("%s %d ? (not measured)", i ? "," : "", i + 1);
	}
	printf("\n");
}

/* "X = 1.23 x Y" over rounds: the median of per-round ratios, and min-max. */
static void
print_vs(const char *label, const char *t1, const char *i1, size_t s1,
         const char *t2, const char *i2, size_t s2, int lat)
{
	double v[MAX_ROUNDS];
	char regs[MAX_ROUNDS + 1];
	int round, n = 0;

	for (round = 0; round < cfg.rounds; round++) {
		const struct result *a = find_round(t1, i1, s1, round);
		const struct result *b = find_round(t2, i2, s2, round);

		if (!a || !b || (lat ? b->p50_us <= 0 : b->msgs <= 0))
			continue;
		regs[n] = regime(round);
		v[n++] = lat ? a->p50_us / b->p50_us : a->msgs / b->msgs;
	}
	if (!n)
		return;
	regs[n] = '\0';
	{
		double med = median(v, n);

		printf("  %s = %.2f x", label, med);
		if (n > 1)
			printf(" (%.2f-%.2f over %d rounds, %s%s)", v[0], v[n - 1], n, regs,
			       spread_ok(med, v[0], v[n - 1]) ? "" : ", spread beyond 15%");
		printf("\n");
	}
}

void
print_table(void)
{
	const char *last = "";
	size_t i, k;

	printf("ipc-bench %s: libipc beside the raw system calls of each mechanism\n",
	       ipc_version());
	printf("date:      %s\n", B.sys_date);
	printf("kernel:    %s\n", B.sys_kernel);
	printf("cpu:       %s (%d usable CPU%s)\n", B.sys_cpu, cfg.ncpu, cfg.ncpu == 1 ? "" : "s");
	printf("placement: %s\n", B.sys_place);
	print_rounds();
	printf("method:    ping-pong p50/p99 round trip; one-way stream, child -> parent, "
	       "first to last message;\n"
	       "           raw = same framing (4-byte big-endian length + payload), writev + "
	       "blocking read loops;\n"
	       "           raw-wvN = N frames per writev, buffered reads; batchN = ipc_send_batch "
	       "of N;\n"
	       "           figures: medians over rounds; MB/s = 10^6 payload bytes/s; "
	       "ratio = row / its base\n"
	       "           (latency: p50, throughput: msgs/s)%s\n\n",
	       cfg.quick ? "; --quick run, few samples" : "");
	printf("%-9s %-10s %7s %9s %9s %12s %10s %-16s %-16s %s\n", "transport", "impl", "size",
	       "p50 us", "p99 us", "msgs/s", "MB/s", "lat x", "tput x", "rounds");
	for (i = 0; i < bench_nrows(); i++) {
		const struct impl *im = bench_row(i);

		for (k = 0; k < NSIZES; k++) {
			struct cell c;
			char sz[32], lr[40], tr[40], p50[16] = "-", p99[16] = "-";

			if (!cell_of(im->transport, im->impl, im->base, bench_sizes[k], &c))
				continue;
			if (strcmp(last, im->transport) != 0 && *last)
				printf("\n");
			last = im->transport;
			fmt_size(sz, sizeof(sz), bench_sizes[k]);
			fmt_ratio(lr, sizeof(lr), c.lat_med, c.lat_min, c.lat_max, c.nr);
			fmt_ratio(tr, sizeof(tr), c.tput_med, c.tput_min, c.tput_max, c.nr);
			if (!im->batch) {
				snprintf(p50, sizeof(p50), "%.2f", c.p50_us);
				snprintf(p99, sizeof(p99), "%.2f", c.p99_us);
			}
			printf("%-9s %-10s %7s %9s %9s %12.0f %10.1f %-16s %-16s %s\n", im->transport,
			       im->impl, sz, p50, p99, c.msgs, c.mbs, lr, tr, c.regimes);
		}
	}
	printf("\n");
	for (i = 0; i < bench_nrows(); i++) {
		const struct impl *im = bench_row(i);

		if (im->note && med_msgs(im->transport, im->impl, bench_sizes[0]) > 0)
			printf("  %s/%s: %s\n", im->transport, im->impl, im->note);
	}
	for (i = 0; i < (size_t)B.nskips; i++)
		printf("  %s/%s: not measured in round %d: %s\n", B.skips[i].transport,
		       B.skips[i].impl, B.skips[i].round + 1, B.skips[i].why);
	if (B.memcpy_mbs[0] > 0)
		printf("  memcpy bandwidth (from a 4 MiB source): %.0f MB/s in 64 KiB blocks, "
		       "%.0f MB/s in 1 MiB blocks\n", B.memcpy_mbs[0], B.memcpy_mbs[1]);
	print_vs("shm/libipc 64 B round trip / busy-poll floor", "shm", "libipc", 64,
	         "shm", "raw-spin", 64, 1);
	print_vs("shm/libipc 64 B msgs/s / busy-poll floor", "shm", "libipc", 64,
	         "shm", "raw-spin", 64, 0);
	for (k = 2; k < NSIZES; k++) {
		static const char *const shm_impl[] = { "libipc", "copy+sum", "loan" };
		char sz[32];
		size_t j;

		fmt_size(sz, sizeof(sz), bench_sizes[k]);
		for (j = 0; j < sizeof(shm_impl) / sizeof(shm_impl[0]); j++) {
			double m = med_mbs("shm", shm_impl[j], bench_sizes[k]);

			if (m > 0 && B.memcpy_mbs[k - 2] > 0)
				printf("  shm/%s %s stream = %.0f%% of memcpy bandwidth (medians)\n",
				       shm_impl[j], sz, 100 * m / B.memcpy_mbs[k - 2]);
		}
	}
	/* zero-copy loans against the copying calls, both checksumming */
	print_vs("shm/loan 64 B msgs/s / copying (copy+sum)", "shm", "loan", 64, "shm",
	         "copy+sum", 64, 0);
	print_vs("shm/loan 1 MiB MB/s / copying (copy+sum)", "shm", "loan", 1u << 20, "shm",
	         "copy+sum", 1u << 20, 0);
	{
		static const char *const tr[] = { "pipe", "tcp", "unix", "shm" };
		static const char *const bn[] = { "16", "64", "256" };
		size_t t, b;

		for (t = 0; t < sizeof(tr) / sizeof(tr[0]); t++) {
			for (b = 0; b < sizeof(bn) / sizeof(bn[0]); b++) {
				char lib[NAME_LEN], label[96];

				snprintf(lib, sizeof(lib), "batch%s", bn[b]);
				snprintf(label, sizeof(label), "%s/%s 64 B msgs/s / libzmq", tr[t], lib);
				print_vs(label, tr[t], lib, 64, tr[t], "zmq", 64, 0);
				snprintf(label, sizeof(label), "%s/%s 64 B msgs/s / unbatched libipc",
				         tr[t], lib);
				print_vs(label, tr[t], lib, 64, tr[t], "libipc", 64, 0);
			}
		}
	}
}

static void
speed_cell(char *out, size_t cap, const char *transport, const char *pref, const char *alt)
{
	double pp = med_p50(transport, pref, 64), pm = med_msgs(transport, pref, 64);
	double ap = alt ? med_p50(transport, alt, 64) : 0, am = alt ? med_msgs(transport, alt, 64) : 0;
	int n;

	if (pm <= 0 && am <= 0) {
		snprintf(out, cap, "not measured");
		return;
	}
	if (pm <= 0) {
		snprintf(out, cap, "%s: %.1f us, %.0fk msg/s", alt, ap, am / 1e3);
		return;
	}
	n = snprintf(out, cap, "%s%s%.1f us, %.0fk msg/s", strcmp(pref, "libipc") ? pref : "",
	             strcmp(pref, "libipc") ? ": " : "", pp, pm / 1e3);
	if (am > 0 && n > 0 && (size_t)n < cap)
		snprintf(out + n, cap - (size_t)n, " (%s %.1f us, %.0fk msg/s)", alt, ap, am / 1e3);
}

void
print_seed_table(void)
{
	char c[7][160];
	int lib = med_msgs("shm", "libipc", 64) > 0;
	double sem = med_p50("shm", "raw-sem", 64);

	speed_cell(c[0], sizeof(c[0]), "pipe", "libipc", "raw");
	speed_cell(c[1], sizeof(c[1]), "fifo", "libipc", "raw");
	speed_cell(c[2], sizeof(c[2]), "tcp", "libipc", "raw");
	speed_cell(c[3], sizeof(c[3]), "unix", "libipc", "raw");
	speed_cell(c[4], sizeof(c[4]), "shm", lib ? "libipc" : "raw-sem", lib ? "raw-sem" : "raw-spin");
	if (sem > 0)
		snprintf(c[5], sizeof(c[5]), "%.1f us round trip (shm+sem ping-pong)", sem);
	else
		snprintf(c[5], sizeof(c[5]), "not measured");
	if (B.sig_done)
		snprintf(c[6], sizeof(c[6]), "%.1f us round trip (sigqueue + sigwaitinfo)",
		         B.sig_p50_us);
	else
		snprintf(c[6], sizeof(c[6]), "not measured");

	printf("\nThe seed's comparison, with \"Speed\" measured in this run "
	       "(64 B: p50 round trip, msgs/s one way; libipc first, raw in parentheses):\n\n");
	printf("| Mechanism | Direction | Filesystem | Speed (measured) | Sync needed | Scope |\n");
	printf("|---|---|---|---|---|---|\n");
	printf("| Pipe | One-way | No | %s | No | Parent/child only |\n", c[0]);
	printf("| FIFO | One-way | Yes | %s | No | Any processes |\n", c[1]);
	printf("| Socket (TCP) | Two-way | No | %s | No | Network or local |\n", c[2]);
	printf("| Socket (Unix domain) | Two-way | Yes (or abstract) | %s | No | Local processes |\n",
	       c[3]);
	printf("| Shared Memory | Two-way | No | %s | Yes | Any processes |\n", c[4]);
	printf("| Semaphore | No data | No | %s | — | Any processes |\n", c[5]);
	printf("| Signal | No data | No | %s | No | Any processes |\n", c[6]);
}

/* ------------------------------------------------------------ JSON */

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void
json_num(const char *key, double v, const char *fmt)
{
	printf(", \"%s\": ", key);
	if (isfinite(v))
		printf(fmt, v);
	else
		printf("null");
}

void
print_json(void)
{
	size_t i, k;
	int j, first = 1;

	printf("{\n  \"tool\": \"ipc-bench\", \"version\": ");
	json_str(ipc_version());
	printf(",\n  \"date\": ");
	json_str(B.sys_date);
	printf(", \"kernel\": ");
	json_str(B.sys_kernel);
	printf(", \"cpu\": ");
	json_str(B.sys_cpu);
	printf(",\n  \"cpus\": %d, \"same_cpu\": %s, \"cpu_parent\": %d, \"cpu_child\": %d, "
	       "\"quick\": %s, \"rounds\": %d,\n", cfg.ncpu,
	       cfg.same_cpu || cfg.ncpu < 2 ? "true" : "false", cfg.cpu_a, cfg.cpu_b,
	       cfg.quick ? "true" : "false", cfg.rounds);
	printf("  \"memcpy_mb_per_s\": { \"64KiB\": %.1f, \"1MiB\": %.1f },\n", B.memcpy_mbs[0],
	       B.memcpy_mbs[1]);
	if (B.sig_done)
		printf("  \"signal_rtt_us\": { \"p50\": %.3f, \"p99\": %.3f },\n", B.sig_p50_us,
		       B.sig_p99_us);
	printf("  \"floor\": [");
	for (j = 0; j < cfg.rounds; j++) {
		printf("%s\n    { \"round\": %d, \"regime\": \"%s\"", j ? "," : "", j + 1,
		       regime(j) == 'c' ? "close" : regime(j) == 'f' ? "far" : "unknown");
		if (B.floor[j].ok)
			printf(", \"p50_us\": %.3f, \"msgs_per_s\": %.0f", B.floor[j].p50_us,
			       B.floor[j].msgs);
		printf(" }");
	}
	printf("\n  ],\n  \"results\": [");
	for (j = 0; j < B.nres; j++) {
		const struct result *r = &B.res[j];
		const struct impl *im = bench_find_row(r->transport, r->impl);
		const struct result *b = im && im->base ?
		        find_round(r->transport, im->base, r->size, r->round) : NULL;

		printf("%s\n    { \"round\": %d, \"transport\": ", j ? "," : "", r->round + 1);
		json_str(r->transport);
		printf(", \"impl\": ");
		json_str(r->impl);
		printf(", \"size\": %zu", r->size);
		if (im && im->batch)
			printf(", \"batch\": %u", im->batch);
		if (r->has_lat)
			printf(", \"p50_us\": %.3f, \"p99_us\": %.3f, \"lat_samples\": %ld",
			       r->p50_us, r->p99_us, r->lat_n);
		printf(", \"msgs_per_s\": %.0f, \"mb_per_s\": %.2f, \"stream_msgs\": %ld",
		       r->msgs, r->mbs, r->tput_n);
		if (b && b->msgs > 0) {
			printf(", \"baseline\": \"%s\"", im->base);
			json_num("tput_ratio", r->msgs / b->msgs, "%.3f");
			if (r->has_lat && b->has_lat && b->p50_us > 0)
				json_num("lat_ratio", r->p50_us / b->p50_us, "%.3f");
		}
		printf(" }");
	}
	printf("\n  ],\n  \"cells\": [");
	for (i = 0; i < bench_nrows(); i++) {
		const struct impl *im = bench_row(i);

		for (k = 0; k < NSIZES; k++) {
			struct cell c;

			if (!cell_of(im->transport, im->impl, im->base, bench_sizes[k], &c))
				continue;
			printf("%s\n    { \"transport\": ", first ? "" : ",");
			first = 0;
			json_str(im->transport);
			printf(", \"impl\": ");
			json_str(im->impl);
			printf(", \"size\": %zu, \"rounds\": %d", bench_sizes[k], c.n);
			if (!im->batch)
				printf(", \"p50_us\": %.3f, \"p99_us\": %.3f", c.p50_us, c.p99_us);
			printf(", \"msgs_per_s\": %.0f, \"mb_per_s\": %.2f", c.msgs, c.mbs);
			if (c.nr) {
				printf(", \"baseline\": \"%s\", \"regimes\": \"%s\"", im->base, c.regimes);
				printf(", \"tput_ratio\": { \"median\": %.3f, \"min\": %.3f, \"max\": %.3f }",
				       c.tput_med, c.tput_min, c.tput_max);
				if (c.lat_med > 0)
					printf(", \"lat_ratio\": { \"median\": %.3f, \"min\": %.3f, "
					       "\"max\": %.3f }", c.lat_med, c.lat_min, c.lat_max);
			}
			printf(" }");
		}
	}
	printf("\n  ],\n  \"skipped\": [");
	for (j = 0; j < B.nskips; j++) {
		printf("%s\n    { \"round\": %d, \"transport\": ", j ? "," : "", B.skips[j].round + 1);
		json_str(B.skips[j].transport);
		printf(", \"impl\": ");
		json_str(B.skips[j].impl);
		printf(", \"reason\": ");
		json_str(B.skips[j].why);
		printf(" }");
	}
	printf("\n  ]\n}\n");
}
