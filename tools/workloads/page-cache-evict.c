/* Shows that this host drops clean page-cache pages no process maps (docs/workloads.md,
 * "make-kconfig's small file mappings"): a memfd of 16 MiB (the probe's stand-in files are
 * memfds) is read through a private mapping, so that every page is cached and clean; the
 * mapping is dropped (or kept, with a second argument) and cachestat(2) polls the file's
 * cached pages. Unmapped, pages go within seconds, with no shadow entries (nr_evicted 0:
 * not reclaim); mapped, they all stay. Usage: page-cache-evict [SECONDS] [keep]. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>
#define PAGE 4096
struct cachestat_range { uint64_t off, len; };
struct cachestat { uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted; };
int main(int argc, char **argv) {
  int secs = argc > 1 ? atoi(argv[1]) : 60; size_t n = 4096, len = n * PAGE;
  int fd = memfd_create("evict", 0); ftruncate(fd, len);
  volatile char *m = mmap(0, len, PROT_READ, MAP_PRIVATE, fd, 0);
  for (size_t i = 0; i < len; i += PAGE) (void)m[i];
  int keep = argc > 2; if (!keep) munmap((void *)m, len);
  struct cachestat_range r = {0, len}; struct cachestat cs;
  time_t end = time(0) + secs;
  while (time(0) < end) {
    syscall(451, fd, &r, &cs, 0);
    if (cs.nr_cache != n) { printf("cached %lu evicted %lu recently %lu dirty %lu (pages %s)\n", cs.nr_cache, cs.nr_evicted, cs.nr_recently_evicted, cs.nr_dirty, keep ? "mapped" : "unmapped"); return 0; }
    usleep(50000);
  }
  printf("all %zu cached for %d s (pages %s)\n", n, secs, keep ? "mapped" : "unmapped"); return 0;
}
