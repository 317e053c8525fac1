/* A small program for `foliolab record` in CI: a few thousand faults through every path the
 * recorder converts. Heap growth by brk (small mallocs) and by mmap (a large malloc), a file
 * mapped shared and private from an offset, MAP_FIXED over part of a mapping, mprotect,
 * MADV_DONTNEED, mremap that grows, a thread, fork (children write part of a shared heap),
 * and a child that execs /bin/true. Deterministic apart from the addresses. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
#define HEAP (4 << 20)

static void touch(char *p, size_t len, char v)
{
	for (size_t i = 0; i < len; i += PAGE)
		p[i] = v;
}

static void *worker(void *arg)
{
	touch(arg, 64 * PAGE, 3);
	return NULL;
}

int main(void)
{
	/* brk: small allocations. */
	for (int i = 0; i < 64; i++)
		touch(malloc(2 * PAGE), 2 * PAGE, 1);
	/* mmap: one large allocation, the shared heap of the children. */
	char *heap = malloc(HEAP);
	touch(heap, HEAP, 2);
	/* A file mapped shared and private, from an offset. */
	char path[] = "/tmp/forkyXXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, 64 * PAGE))
		return 1;
	unlink(path);
	char *shared = mmap(NULL, 32 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 16 * PAGE);
	char *priv = mmap(NULL, 32 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (shared == MAP_FAILED || priv == MAP_FAILED)
		return 1;
	touch(shared, 32 * PAGE, 4);
	for (size_t i = 0; i < 32 * PAGE; i += PAGE)
		(void)*(volatile char *)(priv + i);
	touch(priv, 8 * PAGE, 5);
	/* MAP_FIXED over the middle of the private mapping, then mprotect and DONTNEED. */
	mmap(priv + 8 * PAGE, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	touch(priv + 8 * PAGE, 8 * PAGE, 6);
	mprotect(priv + 16 * PAGE, 8 * PAGE, PROT_READ);
	madvise(heap, 64 * PAGE, MADV_DONTNEED);
	touch(heap, 32 * PAGE, 7);
	/* mremap that grows (and may move). */
	char *m = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	touch(m, 16 * PAGE, 8);
	m = mremap(m, 16 * PAGE, 256 * PAGE, MREMAP_MAYMOVE);
	touch(m, 256 * PAGE, 9);
	/* A thread. */
	pthread_t t;
	pthread_create(&t, NULL, worker, m);
	pthread_join(t, NULL);
	/* Children of a fork server: each writes its slice of the heap. */
	for (int c = 0; c < 4; c++) {
		pid_t pid = fork();
		if (pid == 0) {
			touch(heap + c * (HEAP / 4), HEAP / 4, 10 + c);
			touch(shared, 4 * PAGE, 20 + c);
			_exit(0);
		}
		waitpid(pid, NULL, 0);
	}
	/* A child that execs. */
	pid_t pid = fork();
	if (pid == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	waitpid(pid, NULL, 0);
	printf("forky done\n");
	return 0;
}
