/* Helpers shared by the fuzz targets: reading an input as a little script,
 * failing loudly on a broken invariant, and counting what a run leaves
 * behind (descriptors, files, /dev/shm names). Each target defines
 * LLVMFuzzerTestOneInput(); libFuzzer or tests/fuzz/replay.c calls it. */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input, consumed from the front. Reads past the end give zeros. */
struct fz {
	const uint8_t *p;
	size_t         n;
};

unsigned fz_u8(struct fz *f);
unsigned fz_u16(struct fz *f);      /* big-endian */
uint32_t fz_u24(struct fz *f);
uint32_t fz_u32(struct fz *f);
uint64_t fz_u64(struct fz *f);
/* Up to @p n bytes; *got says how many there were. */
const uint8_t *fz_bytes(struct fz *f, size_t n, size_t *got);

/* A broken invariant: print it and abort(), which libFuzzer reports as a
 * crash (and saves the input) and which fails a replay. */
void fz_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
#define FZ_ASSERT(cond, ...) do { if (!(cond)) fz_fail(__VA_ARGS__); } while (0)

/* Open descriptors of this process. */
int fz_fd_count(void);

/* A private directory for one input, made once per process and emptied
 * (checked) after each input. */
const char *fz_dir(void);
/* The first entry left in fz_dir(), or NULL; then removes everything. */
const char *fz_dir_leftover(void);

/* "/ipc-fuzz-<pid>-" : every shm name a target makes starts with it. */
const char *fz_shm_prefix(void);
/* A /dev/shm name with that prefix left behind, or NULL; unlinks them all. */
const char *fz_shm_leftover(void);

#endif
