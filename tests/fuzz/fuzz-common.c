#include "fuzz-common.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

unsigned
fz_u8(struct fz *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

unsigned
fz_u16(struct fz *f)
{
	unsigned v = fz_u8(f) << 8;

	return v | fz_u8(f);
}

uint32_t
fz_u24(struct fz *f)
{
	uint32_t v = (uint32_t)fz_u16(f) << 8;

	return v | fz_u8(f);
}

uint32_t
fz_u32(struct fz *f)
{
	uint32_t v = (uint32_t)fz_u16(f) << 16;

	return v | fz_u16(f);
}

uint64_t
fz_u64(struct fz *f)
{
	uint64_t v = (uint64_t)fz_u32(f) << 32;

	return v | fz_u32(f);
}

const uint8_t *
fz_bytes(struct fz *f, size_t n, size_t *got)
{
	const uint8_t *p = f->p;

	if (n > f->n)
		n = f->n;
	f->p += n;
	f->n -= n;
	*got = n;
	return p;
}

void
fz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz invariant broken: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

int
fz_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		fz_fail("opendir /proc/self/fd: %s", strerror(errno));
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;   /* the DIR's own descriptor */
}

static char dir[256];

static int
rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb; (void)flag;
	return ftw->level ? remove(p) : 0;  /* everything but the directory */
}

static void
dir_remove(void)
{
	if (dir[0]) {
		nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
		rmdir(dir);
	}
	fz_shm_leftover();
}

const char *
fz_dir(void)
{
	if (!dir[0]) {
		const char *t = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/ipc-fuzz-XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(dir))
			fz_fail("mkdtemp %s: %s", dir, strerror(errno));
		atexit(dir_remove);
	}
	return dir;
}

const char *
fz_dir_leftover(void)
{
	static char left[256];
	DIR *d = opendir(fz_dir());
	struct dirent *e;

	left[0] = 0;
	if (!d)
		fz_fail("opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && !left[0])
			snprintf(left, sizeof(left), "%s", e->d_name);
	closedir(d);
	if (left[0])
		nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	return left[0] ? left : NULL;
}

const char *
fz_shm_prefix(void)
{
	static char prefix[64];

	if (!prefix[0])
		snprintf(prefix, sizeof(prefix), "/ipc-fuzz-%ld-", (long)getpid());
	return prefix;
}

const char *
fz_shm_leftover(void)
{
	static char left[300];
	const char *prefix = fz_shm_prefix() + 1;   /* /dev/shm lists names without '/' */
	DIR *d = opendir("/dev/shm");
	struct dirent *e;

	left[0] = 0;
	if (!d)
		return NULL;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
			char name[300];

			if (!left[0])
				snprintf(left, sizeof(left), "/dev/shm/%.200s", e->d_name);
			snprintf(name, sizeof(name), "/%.200s", e->d_name);
			shm_unlink(name);
		}
	closedir(d);
	return left[0] ? left : NULL;
}
