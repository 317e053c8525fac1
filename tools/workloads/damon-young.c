/* Shows on this host why a forked child's smaps Referenced exceeds what it touched
 * (docs/workloads.md, "DAMON and Referenced"): a parent writes a 192 MiB heap and forks
 * children one after another, each writing its slice (the zygote's shape, zygote.c); the
 * last child splits its heap into one VMA per page (mprotect of every other page), so that
 * smaps gives each page's Referenced, and the parent compares the pages referenced outside
 * the child's slice with PG_idle (bit 25 of /proc/kpageflags), the mark DAMON's sampling
 * leaves on a folio whose PTEs it made old (and whose PG_young it set).
 * Root (kpageflags); usage: damon-young [CHILDREN]. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#define PAGE 4096
int main(int argc, char **argv) {
  size_t len = 192 << 20; int children = argc > 1 ? atoi(argv[1]) : 24;
  size_t np = len / PAGE;
  char *heap = mmap(0, len, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0);
  for (size_t i = 0; i < len; i += PAGE) heap[i] = 1;
  size_t slice = len / 24 / PAGE * PAGE;
  for (int c = 0; c < children; c++) {
    int pfd[2]; pipe(pfd);
    pid_t pid = fork();
    if (pid == 0) {
      char *mine = heap + (c % 24) * slice;
      for (size_t i = 0; i < slice; i += PAGE) mine[i] ^= 1;
      if (c == children - 1) for (size_t i = 0; i < len; i += 2 * PAGE) mprotect(heap + i, PAGE, PROT_READ);
      write(pfd[1], "x", 1); pause(); _exit(0);
    }
    char x; read(pfd[0], &x, 1);
    if (c == children - 1) {
      char *ref = calloc(np, 1), p[64], line[256]; sprintf(p, "/proc/%d/smaps", pid);
      FILE *f = fopen(p, "r"); long cur = -1;
      while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && line[strspn(line, "0123456789abcdef")] == '-') {
          cur = (a >= (unsigned long)heap && a < (unsigned long)heap + len) ? (long)((a - (unsigned long)heap) / PAGE) : -1; continue; }
        if (cur >= 0 && !strncmp(line, "Referenced:", 11) && atol(line + 11) > 0) ref[cur] = 1;
      }
      fclose(f);
      int pm = open("/proc/self/pagemap", O_RDONLY), kf = open("/proc/kpageflags", O_RDONLY);
      long extra = 0, extra_idle = 0, idle_total = 0;
      for (size_t i = 0; i < np; i++) {
        uint64_t e, fl = 0; pread(pm, &e, 8, ((uintptr_t)(heap + i * PAGE) / PAGE) * 8);
        if (e >> 63) pread(kf, &fl, 8, (e & ((1ULL << 55) - 1)) * 8);
        int idle = !!(fl & (1ULL << 25)); idle_total += idle;
        int mine = i / (slice / PAGE) == (size_t)(c % 24);
        if (ref[i] && !mine) { extra++; extra_idle += idle; }
      }
      printf("child %d: %ld pages referenced outside its slice, %ld of them PG_idle (DAMON-sampled); heap pages PG_idle: %ld\n", c, extra, extra_idle, idle_total);
    }
    kill(pid, 9); waitpid(pid, 0, 0);
    for (size_t i = 0; i < 64 * PAGE; i += PAGE) heap[i]++;
  }
}
