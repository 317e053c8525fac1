/* A zygote-style fork server (tools/workloads/record.sh, docs/workloads.md): one parent
 * preloads a heap (as Android's zygote preloads classes and resources), then forks children
 * one after another on "requests"; each child writes its own slice of the shared heap (COW),
 * reads a little of the rest, allocates some private memory and exits. The parent keeps
 * serving: the three-or-more-process sharing MM_ID cannot track. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096

int main(int argc, char **argv)
{
	size_t heap_mb = argc > 1 ? strtoul(argv[1], NULL, 0) : 192;
	int children = argc > 2 ? atoi(argv[2]) : 24;
	size_t len = heap_mb << 20;
	char *heap = malloc(len);
	if (!heap)
		return 1;
	for (size_t i = 0; i < len; i += PAGE)
		heap[i] = (char)(i / PAGE);
	size_t slice = len / children / PAGE * PAGE;
	for (int c = 0; c < children; c++) {
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			char *mine = heap + c * slice;
			for (size_t i = 0; i < slice; i += PAGE)
				mine[i] ^= 1;
			unsigned sum = 0;
			for (size_t i = 0; i < len; i += 64 * PAGE)
				sum += (unsigned char)heap[i];
			char *priv = malloc(2 << 20);
			for (size_t i = 0; i < (2 << 20); i += PAGE)
				priv[i] = (char)sum;
			_exit(0);
		}
		/* The parent keeps its own state warm between requests. */
		for (size_t i = 0; i < 64 * PAGE; i += PAGE)
			heap[i]++;
		if (c % 4 == 3)
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
	}
	while (wait(NULL) > 0)
		;
	printf("zygote: %d children over a %zu MiB heap\n", children, heap_mb);
	return 0;
}
