/*
 * measure.c - ground-truth measurements of large-folio mapping accounting
 * on the running kernel (foliolab).  See docs/kernel-measurements.md.
 *
 * Structure
 *   main        saves every THP knob, pauses khugepaged, then for each
 *               scenario sets the knobs and forks a scenario driver.
 *               Restores the knobs on every exit path (atexit, signals,
 *               "--restore" from the state file after a crash).
 *   driver      (one per scenario, own process group) creates the memory
 *               processes ("workers"), sends them commands over pipes and
 *               observes them from outside: /proc/<pid>/pagemap,
 *               PAGEMAP_SCAN, /proc/kpagecount, /proc/kpageflags,
 *               /proc/<pid>/smaps, THP stats.  Folio labels (A, B, ..., s0,
 *               s1, ...) are kept by the driver, so they are comparable
 *               across the processes of one scenario.
 *   worker      owns one region; maps/writes/reads/unmaps/mprotects it and
 *               reports its own minor-fault delta (getrusage) for each
 *               access.  A worker "forks" with clone(CLONE_PARENT|SIGCHLD):
 *               the same dup_mmap() as fork(), but the new process is a
 *               child of the driver, which can then waitpid() all of them.
 *
 * Usage: measure [-n RUNS] [scenario-name...]   run (default: all, 1 run)
 *        measure --restore                      restore knobs from state file
 *        measure --check                        compare knobs with state file
 * Run under the probe lock:  flock /run/foliolab-probe.lock measure
 * (if the lock is not held by an ancestor, measure takes it itself).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#define PG 4096UL
#define K 1024UL
#define M (1024UL * 1024UL)
#define THP "/sys/kernel/mm/transparent_hugepage"
#define LOCK_PATH "/run/foliolab-probe.lock"
#define STATE_PATH "/run/foliolab-kmeasure.knobs"

/* ------------------------------------------------------------------ */
/* small utilities                                                     */

static void fatal(const char *fmt, ...)
{
	va_list ap;
	int e = errno;
	va_start(ap, fmt);
	fprintf(stderr, "measure: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (errno %d: %s)\n", e, strerror(e));
	exit(2);
}

static int read_text(const char *path, char *buf, size_t sz)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sz - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return 0;
}

/* async-signal-safe write of a string to a file */
static int write_text(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

/* "always [madvise] never" -> "madvise"; plain numbers unchanged */
static void knob_value(const char *raw, char *out, size_t sz)
{
	const char *b = strchr(raw, '[');
	if (b) {
		const char *e = strchr(b, ']');
		size_t l = e ? (size_t)(e - b - 1) : strlen(b + 1);
		if (l >= sz)
			l = sz - 1;
		memcpy(out, b + 1, l);
		out[l] = 0;
	} else {
		snprintf(out, sz, "%s", raw);
	}
}

static long read_long(const char *path)
{
	char b[64];
	if (read_text(path, b, sizeof b))
		return -1;
	return strtol(b, NULL, 10);
}

/* ------------------------------------------------------------------ */
/* THP knobs: save / set / restore / check                             */

#define MAXKNOB 64
struct knob { char path[160]; char val[64]; };
static struct knob saved[MAXKNOB];
static int nsaved;
static volatile sig_atomic_t knobs_dirty;

static void knob_list(char paths[][160], int *n)
{
	static const char *top[] = { "enabled", "defrag", "shmem_enabled", "use_zero_page",
		"shrink_underused", "anon_beside_full",
		"khugepaged/defrag", "khugepaged/max_ptes_none", "khugepaged/max_ptes_shared",
		"khugepaged/max_ptes_swap", "khugepaged/pages_to_scan",
		"khugepaged/scan_sleep_millisecs", "khugepaged/alloc_sleep_millisecs", NULL };
	struct stat st;
	*n = 0;
	for (int i = 0; top[i]; i++) {
		snprintf(paths[*n], 160, THP "/%s", top[i]);
		if (!stat(paths[*n], &st))
			(*n)++;
	}
	glob_t g;
	if (!glob(THP "/hugepages-*kB/enabled", 0, NULL, &g)) {
		for (size_t i = 0; i < g.gl_pathc && *n < MAXKNOB; i++)
			snprintf(paths[(*n)++], 160, "%s", g.gl_pathv[i]);
		globfree(&g);
	}
	if (!glob(THP "/hugepages-*kB/shmem_enabled", 0, NULL, &g)) {
		for (size_t i = 0; i < g.gl_pathc && *n < MAXKNOB; i++)
			snprintf(paths[(*n)++], 160, "%s", g.gl_pathv[i]);
		globfree(&g);
	}
}

static void knobs_save(void)
{
	char paths[MAXKNOB][160], raw[256];
	int n;
	knob_list(paths, &n);
	nsaved = 0;
	for (int i = 0; i < n; i++) {
		if (read_text(paths[i], raw, sizeof raw))
			fatal("read %s", paths[i]);
		snprintf(saved[nsaved].path, sizeof saved[0].path, "%.159s", paths[i]);
		knob_value(raw, saved[nsaved].val, sizeof saved[0].val);
		nsaved++;
	}
	int fd = open(STATE_PATH, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0)
		fatal("state file %s exists (a previous run did not finish?); "
		      "run 'measure --restore' first", STATE_PATH);
	FILE *f = fdopen(fd, "w");
	for (int i = 0; i < nsaved; i++)
		fprintf(f, "%s %s\n", saved[i].path, saved[i].val);
	if (fclose(f))
		fatal("write state");
}

static int knobs_load(void)
{
	FILE *f = fopen(STATE_PATH, "r");
	if (!f)
		return -1;
	nsaved = 0;
	while (nsaved < MAXKNOB &&
	       fscanf(f, "%159s %63s", saved[nsaved].path, saved[nsaved].val) == 2)
		nsaved++;
	fclose(f);
	return 0;
}

/* async-signal-safe: only open/write/close */
static void knobs_restore(void)
{
	for (int i = 0; i < nsaved; i++)
		write_text(saved[i].path, saved[i].val);
}

/* returns number of knobs that differ from the saved values */
static int knobs_check(FILE *out)
{
	char raw[256], v[64];
	int bad = 0;
	for (int i = 0; i < nsaved; i++) {
		if (read_text(saved[i].path, raw, sizeof raw)) {
			fprintf(out, "  DIFF %s unreadable\n", saved[i].path);
			bad++;
			continue;
		}
		knob_value(raw, v, sizeof v);
		if (strcmp(v, saved[i].val)) {
			fprintf(out, "  DIFF %s: now %s, saved %s\n", saved[i].path, v, saved[i].val);
			bad++;
		}
	}
	return bad;
}

static void knob_set(const char *rel, const char *val)
{
	char p[200];
	snprintf(p, sizeof p, THP "/%s", rel);
	knobs_dirty = 1;
	if (write_text(p, val))
		fatal("write %s <- %s", p, val);
}

static pid_t driver_pid, main_pid;

static void on_signal(int sig)
{
	if (getpid() != main_pid)
		_exit(128 + sig);
	if (driver_pid > 0)
		kill(-driver_pid, SIGKILL);
	if (knobs_dirty) {
		knobs_restore();
		unlink(STATE_PATH);
	}
	static const char msg[] = "measure: signal, knobs restored\n";
	ssize_t r = write(2, msg, sizeof msg - 1);
	(void)r;
	_exit(128 + sig);
}

static void at_exit_restore(void)
{
	if (getpid() == main_pid && knobs_dirty) {
		knobs_restore();
		knobs_dirty = 0;
	}
}

/* ------------------------------------------------------------------ */
/* global counters: per-size THP stats and vmstat thp_*                */

#define NSTAT 398
struct stats { int n; char name[NSTAT + 2][64]; long long v[NSTAT + 2]; };

static void stats_read(struct stats *s)
{
	glob_t g;
	s->n = 0;
	if (!glob(THP "/hugepages-*kB/stats/*", 0, NULL, &g)) {
		for (size_t i = 0; i < g.gl_pathc && s->n < NSTAT; i++) {
			const char *q = strstr(g.gl_pathv[i], "hugepages-") + 10;
			char sz[12], nm[40];
			if (sscanf(q, "%11[^/]/stats/%39s", sz, nm) != 2)
				continue;
			snprintf(s->name[s->n], 64, "%s.%s", sz, nm);
			s->v[s->n++] = read_long(g.gl_pathv[i]);
		}
		globfree(&g);
	}
	FILE *f = fopen("/proc/vmstat", "r");
	char nm[64];
	long long v;
	while (f && fscanf(f, "%63s %lld", nm, &v) == 2)
		if ((!strncmp(nm, "thp_", 4) || !strcmp(nm, "nr_anon_transparent_hugepages")) &&
		    s->n < NSTAT) {
			snprintf(s->name[s->n], 64, "%s", nm);
			s->v[s->n++] = v;
		}
	if (f)
		fclose(f);
	/* khugepaged activity (should stay 0: it is paused) */
	snprintf(s->name[s->n], 64, "khugepaged.full_scans");
	s->v[s->n++] = read_long(THP "/khugepaged/full_scans");
	snprintf(s->name[s->n], 64, "khugepaged.pages_collapsed");
	s->v[s->n++] = read_long(THP "/khugepaged/pages_collapsed");
}

static long long stat_get(const struct stats *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->name[i], name))
			return s->v[i];
	return 0;
}

static void stats_print_delta(const struct stats *a, const struct stats *b)
{
	int any = 0;
	printf("    stats:");
	for (int i = 0; i < b->n; i++) {
		long long d = b->v[i] - stat_get(a, b->name[i]);
		if (!d)
			continue;
		printf(" %s%+lld", b->name[i], d);
		any = 1;
	}
	printf(any ? "\n" : " (none)\n");
}

/* ------------------------------------------------------------------ */
/* per-page observation                                                */

#define PM_PFN(e) ((e) & ((1ULL << 55) - 1))
#define PM_EXCL (1ULL << 56)
#define PM_FILE (1ULL << 61)
#define PM_SWAP (1ULL << 62)
#define PM_PRESENT (1ULL << 63)
#define KPF_DIRTY 4
#define KPF_HEAD 15
#define KPF_TAIL 16
#define KPF_THP 22
#define KPF_ZERO 24

/* PAGEMAP_SCAN (uapi 6.7); the installed headers are older */
struct pm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
struct page_region { uint64_t start, end, categories; };
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)

static int kpc_fd = -1, kpf_fd = -1;

static uint64_t kread(int fd, uint64_t pfn)
{
	uint64_t v = 0;
	if (pread(fd, &v, 8, pfn * 8) != 8)
		fatal("pread kpage* pfn %llu", (unsigned long long)pfn);
	return v;
}

/* folio labels, per scenario (driver-wide) */
struct label { uint64_t head; int nr; int zero; char name[16]; };
static struct label labels[4096];
static int nlabels, nlarge, nsmall;

static struct label *label_of(uint64_t pfn, int *off, int *nr_out)
{
	uint64_t f = kread(kpf_fd, pfn), head = pfn;
	int nr = 1;
	if (f & (1ULL << KPF_TAIL)) {
		for (int i = 0; i < (1 << 19); i++) {
			uint64_t g = kread(kpf_fd, --head);
			if (g & (1ULL << KPF_HEAD))
				break;
			if (!(g & (1ULL << KPF_TAIL))) {
				head = pfn; /* raced with a split */
				break;
			}
		}
	}
	uint64_t hf = kread(kpf_fd, head);
	if (hf & (1ULL << KPF_HEAD))
		while (nr < (1 << 19) && (kread(kpf_fd, head + nr) & (1ULL << KPF_TAIL)))
			nr++;
	*off = (int)(pfn - head);
	*nr_out = nr;
	int zero = !!(f & (1ULL << KPF_ZERO));
	for (int i = 0; i < nlabels; i++)
		if (labels[i].head == head && labels[i].nr == nr)
			return &labels[i];
	if (nlabels >= 4096)
		fatal("too many folios");
	struct label *l = &labels[nlabels++];
	l->head = head;
	l->nr = nr;
	l->zero = zero;
	if (zero)
		snprintf(l->name, sizeof l->name, nr > 1 ? "HZERO" : "ZERO");
	else if (nr > 1)
		snprintf(l->name, sizeof l->name, nlarge < 26 ? "%c" : "L%d",
			 nlarge < 26 ? 'A' + nlarge : nlarge), nlarge++;
	else
		snprintf(l->name, sizeof l->name, "s%d", nsmall++);
	return l;
}

struct pinfo {
	int present, zero, off, nr, excl, huge, dirty;
	long kpc;
	struct label *l;
};

static void observe_pages(pid_t pid, unsigned long base, size_t npg, struct pinfo *pi)
{
	char p[64];
	snprintf(p, sizeof p, "/proc/%d/pagemap", pid);
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		fatal("open %s", p);
	uint64_t *pm = calloc(npg, 8);
	if (pread(fd, pm, npg * 8, (base / PG) * 8) != (ssize_t)(npg * 8))
		fatal("pread pagemap");
	/* PAGE_IS_HUGE: PMD-mapped */
	char *huge = calloc(npg, 1);
	struct page_region vec[1024];
	struct pm_scan_arg a = { .size = sizeof a, .start = base, .end = base + npg * PG,
		.vec = (uintptr_t)vec, .vec_len = 1024,
		.category_anyof_mask = PAGE_IS_PRESENT,
		.return_mask = PAGE_IS_PRESENT | PAGE_IS_HUGE | PAGE_IS_PFNZERO };
	int r = ioctl(fd, PAGEMAP_SCAN, &a);
	if (r < 0)
		fatal("PAGEMAP_SCAN");
	for (int i = 0; i < r; i++)
		for (uint64_t x = vec[i].start; x < vec[i].end; x += PG)
			if ((vec[i].categories & PAGE_IS_HUGE) && (x - base) / PG < npg)
				huge[(x - base) / PG] = 1;
	close(fd);
	for (size_t i = 0; i < npg; i++) {
		memset(&pi[i], 0, sizeof pi[i]);
		if (!(pm[i] & PM_PRESENT))
			continue;
		uint64_t pfn = PM_PFN(pm[i]);
		pi[i].present = 1;
		pi[i].excl = !!(pm[i] & PM_EXCL);
		pi[i].huge = huge[i];
		pi[i].l = label_of(pfn, &pi[i].off, &pi[i].nr);
		pi[i].zero = pi[i].l->zero;
		pi[i].kpc = (long)kread(kpc_fd, pfn);
		pi[i].dirty = !!(kread(kpf_fd, pfn) & (1ULL << KPF_DIRTY));
	}
	free(pm);
	free(huge);
}

static int same_run(const struct pinfo *a, const struct pinfo *b, int dist)
{
	if (a->present != b->present)
		return 0;
	if (!a->present)
		return 1;
	if (a->zero != b->zero || a->kpc != b->kpc || a->excl != b->excl ||
	    a->huge != b->huge || a->nr != b->nr)
		return 0;
	if (a->zero)
		return a->l == b->l && (a->nr == 1 || b->off == a->off + dist);
	if (a->nr > 1)
		return a->l == b->l && b->off == a->off + dist;
	return 1; /* order-0 folios: grouped, listed by label */
}

static void print_pages(const struct pinfo *pi, size_t npg)
{
	size_t i = 0;
	while (i < npg) {
		size_t j = i + 1;
		while (j < npg && same_run(&pi[i], &pi[j], (int)(j - i)))
			j++;
		char rng[32], who[256];
		if (j - i > 1)
			snprintf(rng, sizeof rng, "%zu-%zu", i, j - 1);
		else
			snprintf(rng, sizeof rng, "%zu", i);
		const struct pinfo *x = &pi[i];
		if (!x->present) {
			printf("      pg %-8s none\n", rng);
		} else {
			if (x->nr > 1 && j - i > 1)
				snprintf(who, sizeof who, "%s+%d..%d", x->l->name, x->off,
					 x->off + (int)(j - i - 1));
			else if (x->nr > 1)
				snprintf(who, sizeof who, "%s+%d", x->l->name, x->off);
			else if (x->zero)
				snprintf(who, sizeof who, "%s", x->l->name);
			else {
				who[0] = 0;
				for (size_t k = i; k < j; k++) {
					size_t l = strlen(who);
					if (l > 200) {
						strcat(who, ",...");
						break;
					}
					snprintf(who + l, sizeof who - l, "%s%s", k > i ? "," : "",
						 pi[k].l->name);
				}
			}
			printf("      pg %-8s %-12s nr=%-3d kpc=%ld excl=%d pmd=%d%s\n", rng, who,
			       x->nr, x->kpc, x->excl, x->huge, x->zero ? " zeropage" : "");
		}
		i = j;
	}
}

/* smaps summed over the VMAs inside [base, base+len) */
static const char *smf[] = { "Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean",
	"Private_Dirty", "Anonymous", "AnonHugePages", NULL };

static void print_smaps(pid_t pid, unsigned long base, size_t len)
{
	char p[64], line[512];
	snprintf(p, sizeof p, "/proc/%d/smaps", pid);
	FILE *f = fopen(p, "r");
	if (!f)
		fatal("open %s", p);
	long sum[16] = { 0 };
	int in = 0, nvma = 0;
	while (fgets(line, sizeof line, f)) {
		unsigned long a, b;
		char c;
		if (sscanf(line, "%lx-%lx %c", &a, &b, &c) == 3 && strchr(line, '-') < strchr(line, ' ')) {
			in = a >= base && b <= base + len;
			nvma += in;
			continue;
		}
		if (!in)
			continue;
		for (int k = 0; smf[k]; k++) {
			size_t l = strlen(smf[k]);
			if (!strncmp(line, smf[k], l) && line[l] == ':')
				sum[k] += strtol(line + l + 1, NULL, 10);
		}
	}
	fclose(f);
	printf("      smaps vmas=%d", nvma);
	for (int k = 0; smf[k]; k++)
		printf(" %s=%ld", smf[k], sum[k]);
	printf("\n");
}

/* ------------------------------------------------------------------ */
/* workers                                                             */

#define NSLOT 8
static int to_w[NSLOT][2], from_w[NSLOT][2];

struct cmd { char op; long a, b, c; };
struct ack { long ret, flt, err; };

static long my_minflt(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return u.ru_minflt;
}

static char *wbase;
static size_t wlen;

static void map_region(size_t len, size_t align, long advice)
{
	/* reserve with PROT_NONE fences on both sides so the region never merges */
	size_t rlen = len + 2 * align + 2 * PG;
	char *r = mmap(NULL, rlen, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		fatal("mmap reserve");
	char *a = (char *)(((uintptr_t)r + PG + align - 1) & ~(uintptr_t)(align - 1));
	if (mmap(a, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != a)
		fatal("mmap fixed");
	if (a - PG > r)
		munmap(r, (a - PG) - r);
	if (a + len + PG < r + rlen)
		munmap(a + len + PG, (r + rlen) - (a + len + PG));
	if (advice >= 0 && madvise(a, len, (int)advice))
		fatal("madvise");
	wbase = a;
	wlen = len;
}

static void worker_loop(int slot)
{
	struct cmd c;
	signal(SIGALRM, SIG_DFL);
	for (;;) {
		ssize_t n = read(to_w[slot][0], &c, sizeof c);
		if (n != sizeof c)
			_exit(3);
		struct ack a = { 0, 0, 0 };
		long f0 = my_minflt();
		switch (c.op) {
		case 'M':
			map_region(c.a, c.b, c.c);
			a.ret = (long)wbase;
			break;
		case 'w':
			for (long i = c.a; i < c.a + c.b; i++)
				((volatile char *)wbase)[i * PG] = (char)(0x41 + i % 50);
			break;
		case 'r': {
			volatile char s = 0;
			for (long i = c.a; i < c.a + c.b; i++)
				s += ((volatile char *)wbase)[i * PG];
			a.ret = s;
			break;
		}
		case 'u':
			a.ret = munmap(wbase + c.a * PG, c.b * PG);
			break;
		case 'p':
			a.ret = mprotect(wbase + c.a * PG, c.b * PG, (int)c.c);
			break;
		case 'f': {
			long child = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
			if (child == 0) {
				slot = (int)c.a; /* the new process serves its own slot */
				continue;
			}
			a.ret = child;
			break;
		}
		case 'x':
			_exit(0);
		}
		a.err = errno;
		a.flt = my_minflt() - f0;
		if (write(from_w[slot][1], &a, sizeof a) != sizeof a)
			_exit(4);
	}
}

struct proc { const char *name; pid_t pid; int slot; int alive; };
static struct proc procs[NSLOT];
static int nprocs;
static unsigned long rbase; /* region address (same in every process) */
static size_t rlen;

static struct ack cmd(struct proc *p, char op, long a, long b, long c)
{
	struct cmd m = { op, a, b, c };
	struct ack r;
	if (write(to_w[p->slot][1], &m, sizeof m) != sizeof m)
		fatal("cmd write to %s", p->name);
	if (read(from_w[p->slot][0], &r, sizeof r) != sizeof r)
		fatal("cmd read from %s", p->name);
	return r;
}

static struct proc *spawn(const char *name)
{
	struct proc *p = &procs[nprocs];
	p->name = name;
	p->slot = nprocs++;
	p->alive = 1;
	fflush(stdout);
	p->pid = fork();
	if (p->pid < 0)
		fatal("fork");
	if (!p->pid)
		worker_loop(p->slot);
	return p;
}

/* ------------------------------------------------------------------ */
/* scenario step helpers (driver side)                                 */

static struct stats st0, st1;

static void step_begin(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("  - ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	stats_read(&st0);
}

static void step_end(void)
{
	stats_read(&st1);
	stats_print_delta(&st0, &st1);
}

static void snap(struct proc *p)
{
	size_t n = rlen / PG;
	struct pinfo *pi = calloc(n, sizeof *pi);
	observe_pages(p->pid, rbase, n, pi);
	printf("    [%s]\n", p->name);
	print_pages(pi, n);
	print_smaps(p->pid, rbase, rlen);
	free(pi);
	fflush(stdout);
}

static void snap_all(void)
{
	for (int i = 0; i < nprocs; i++)
		if (procs[i].alive)
			snap(&procs[i]);
}

static void region(struct proc *p, size_t len, size_t align, long advice)
{
	struct ack a = cmd(p, 'M', (long)len, (long)align, advice);
	rbase = (unsigned long)a.ret;
	rlen = len;
}

static long do_write(struct proc *p, long first, long n)
{
	struct ack a = cmd(p, 'w', first, n, 0);
	if (n > 1)
		printf("    %s writes pg %ld-%ld: minflt=%ld\n", p->name, first, first + n - 1, a.flt);
	else
		printf("    %s writes pg %ld: minflt=%ld\n", p->name, first, a.flt);
	return a.flt;
}

static long do_read(struct proc *p, long first, long n)
{
	struct ack a = cmd(p, 'r', first, n, 0);
	if (n > 1)
		printf("    %s reads pg %ld-%ld: minflt=%ld\n", p->name, first, first + n - 1, a.flt);
	else
		printf("    %s reads pg %ld: minflt=%ld\n", p->name, first, a.flt);
	return a.flt;
}

#define WRITE1(p, pg) do_write(p, pg, 1)

static struct proc *do_fork(struct proc *p, const char *name)
{
	struct proc *c = &procs[nprocs];
	c->name = name;
	c->slot = nprocs++;
	c->alive = 1;
	fflush(stdout);
	struct ack a = cmd(p, 'f', c->slot, 0, 0);
	if (a.ret <= 0)
		fatal("clone in %s", p->name);
	c->pid = (pid_t)a.ret;
	/* warm-up: the new process breaks COW on its own stack/data pages by
	 * running one no-op command, so later fault counts see only the region */
	cmd(c, 'n', 0, 0, 0);
	cmd(c, 'n', 0, 0, 0);
	cmd(p, 'n', 0, 0, 0);
	printf("    %s forks %s\n", p->name, name);
	return c;
}

static void do_exit(struct proc *p)
{
	struct cmd m = { 'x', 0, 0, 0 };
	if (write(to_w[p->slot][1], &m, sizeof m) != sizeof m)
		fatal("exit write");
	if (waitpid(p->pid, NULL, 0) != p->pid)
		fatal("waitpid %s", p->name);
	p->alive = 0;
	printf("    %s exits (reaped)\n", p->name);
}

static void do_munmap(struct proc *p, long first, long n)
{
	struct ack a = cmd(p, 'u', first, n, 0);
	printf("    %s munmap pg %ld-%ld: ret=%ld\n", p->name, first, first + n - 1, a.ret);
}

static void do_mprotect(struct proc *p, long first, long n, int prot)
{
	struct ack a = cmd(p, 'p', first, n, prot);
	printf("    %s mprotect pg %ld-%ld %s: ret=%ld minflt=%ld\n", p->name, first, first + n - 1,
	       prot & PROT_WRITE ? "RW" : "R", a.ret, a.flt);
}

/* deferred-split shrinker: drop_caches=2 until nr_anon_partially_mapped stops changing */
static void do_shrink(const char *size)
{
	char path[160];
	snprintf(path, sizeof path, THP "/hugepages-%s/stats/nr_anon_partially_mapped", size);
	int it;
	long before = read_long(path), now = before;
	for (it = 1; it <= 5; it++) {
		long prev = now;
		if (write_text("/proc/sys/vm/drop_caches", "2"))
			fatal("drop_caches");
		now = read_long(path);
		if (now == prev)
			break;
	}
	printf("    shrink: drop_caches=2 x%d, %s.nr_anon_partially_mapped %ld -> %ld\n",
	       it > 5 ? 5 : it, size, before, now);
}

/* ------------------------------------------------------------------ */
/* scenarios                                                           */

struct knobset { const char *kv[8][2]; };

static void sc_pmd_first_touch(void)
{
	struct proc *p = spawn("P");
	region(p, 2 * M, 2 * M, MADV_HUGEPAGE);
	step_begin("P writes one byte per 4K page, pg 0-511");
	do_write(p, 0, 512);
	snap(p);
	step_end();
}

static void sc_pmd_read_first(void)
{
	struct proc *p = spawn("P");
	region(p, 2 * M, 2 * M, MADV_HUGEPAGE);
	step_begin("P reads pg 0-511");
	do_read(p, 0, 512);
	snap(p);
	step_end();
	step_begin("P writes pg 5");
	WRITE1(p, 5);
	snap(p);
	step_end();
	step_begin("P writes pg 6 and then pg 300");
	WRITE1(p, 6);
	WRITE1(p, 300);
	snap(p);
	step_end();
}

static void sc_mthp_first_touch(void)
{
	struct proc *p = spawn("P");
	region(p, 128 * K, 64 * K, MADV_HUGEPAGE);
	step_begin("P writes pg 0");
	WRITE1(p, 0);
	snap(p);
	step_end();
	step_begin("P writes pg 1-31");
	do_write(p, 1, 31);
	snap(p);
	step_end();
}

static void sc_zero_page(void)
{
	struct proc *p = spawn("P");
	region(p, 64 * K, 64 * K, -1);
	step_begin("P reads pg 0-3 (no MADV_HUGEPAGE)");
	do_read(p, 0, 4);
	snap(p);
	step_end();
	step_begin("P writes pg 1");
	WRITE1(p, 1);
	snap(p);
	step_end();
}

static void fork_cow(size_t len, size_t align, long advice, long cpg, long ppg)
{
	struct proc *p = spawn("P");
	region(p, len, align, advice);
	step_begin("P writes all %zu pages", len / PG);
	do_write(p, 0, (long)(len / PG));
	snap(p);
	step_end();
	step_begin("P forks C");
	struct proc *c = do_fork(p, "C");
	snap_all();
	step_end();
	step_begin("C writes pg %ld", cpg);
	WRITE1(c, cpg);
	snap_all();
	step_end();
	step_begin("P writes pg %ld", ppg);
	WRITE1(p, ppg);
	snap_all();
	step_end();
	step_begin("C writes pg %ld (already copied), P writes pg %ld again", cpg, ppg);
	WRITE1(c, cpg);
	WRITE1(p, ppg);
	step_end();
}

static void sc_fork_cow_4k(void) { fork_cow(64 * K, 64 * K, MADV_NOHUGEPAGE, 3, 5); }
static void sc_fork_cow_64k(void) { fork_cow(64 * K, 64 * K, MADV_HUGEPAGE, 3, 5); }
static void sc_fork_cow_2m(void) { fork_cow(2 * M, 2 * M, MADV_HUGEPAGE, 3, 5); }

static void reuse_after_exit(size_t len)
{
	struct proc *p = spawn("P");
	region(p, len, len, MADV_HUGEPAGE);
	step_begin("P writes all %zu pages, forks C", len / PG);
	do_write(p, 0, (long)(len / PG));
	struct proc *c = do_fork(p, "C");
	step_end();
	step_begin("C writes pg 3");
	WRITE1(c, 3);
	snap_all();
	step_end();
	step_begin("C exits");
	do_exit(c);
	snap(p);
	step_end();
	step_begin("P writes pg 5");
	WRITE1(p, 5);
	snap(p);
	step_end();
	step_begin("P writes pg 6, then pg 3");
	WRITE1(p, 6);
	WRITE1(p, 3);
	snap(p);
	step_end();
}

static void sc_reuse_after_exit_64k(void) { reuse_after_exit(64 * K); }
static void sc_reuse_after_exit_2m(void) { reuse_after_exit(2 * M); }

static void sc_maybe_shared_three(void)
{
	struct proc *p = spawn("P");
	region(p, 64 * K, 64 * K, MADV_HUGEPAGE);
	step_begin("P writes pg 0-15, forks C1, forks C2");
	do_write(p, 0, 16);
	struct proc *c1 = do_fork(p, "C1");
	struct proc *c2 = do_fork(p, "C2");
	snap_all();
	step_end();
	step_begin("P exits, then C1 exits");
	do_exit(p);
	do_exit(c1);
	snap(c2);
	step_end();
	step_begin("C2 writes pg 2");
	WRITE1(c2, 2);
	snap(c2);
	step_end();
	step_begin("C2 writes pg 7");
	WRITE1(c2, 7);
	snap(c2);
	step_end();
}

static void sc_maybe_shared_three_good(void)
{
	struct proc *p = spawn("P");
	region(p, 64 * K, 64 * K, MADV_HUGEPAGE);
	step_begin("P writes pg 0-15, forks C1, forks C2");
	do_write(p, 0, 16);
	struct proc *c1 = do_fork(p, "C1");
	struct proc *c2 = do_fork(p, "C2");
	step_end();
	step_begin("C1 exits, then C2 exits");
	do_exit(c1);
	do_exit(c2);
	snap(p);
	step_end();
	step_begin("P writes pg 2");
	WRITE1(p, 2);
	snap(p);
	step_end();
	step_begin("P writes pg 7");
	WRITE1(p, 7);
	snap(p);
	step_end();
}

static void sc_partial_unmap_64k(void)
{
	struct proc *p = spawn("P");
	region(p, 64 * K, 64 * K, MADV_HUGEPAGE);
	step_begin("P writes pg 8 (folio fault), then pg 9-11; pg 0-7,12-15 stay zero-filled");
	WRITE1(p, 8);
	do_write(p, 9, 3);
	snap(p);
	step_end();
	step_begin("P munmaps pg 0-3");
	do_munmap(p, 0, 4);
	snap(p);
	step_end();
	step_begin("shrink");
	do_shrink("64kB");
	snap(p);
	step_end();
	step_begin("P reads pg 4-15 and writes pg 12");
	do_read(p, 4, 12);
	WRITE1(p, 12);
	snap(p);
	step_end();
}

static void sc_partial_unmap_2m(void)
{
	struct proc *p = spawn("P");
	region(p, 2 * M, 2 * M, MADV_HUGEPAGE);
	step_begin("P writes pg 16 (THP fault), then pg 17-23 and 256-263; the rest stays zero-filled");
	WRITE1(p, 16);
	do_write(p, 17, 7);
	do_write(p, 256, 8);
	snap(p);
	step_end();
	step_begin("P munmaps pg 0-15 (first 64K)");
	do_munmap(p, 0, 16);
	snap(p);
	step_end();
	step_begin("shrink");
	do_shrink("2048kB");
	snap(p);
	step_end();
}

static void sc_mprotect_pmd_split(void)
{
	struct proc *p = spawn("P");
	region(p, 2 * M, 2 * M, MADV_HUGEPAGE);
	step_begin("P writes pg 0-511");
	do_write(p, 0, 512);
	snap(p);
	step_end();
	step_begin("P mprotect(PROT_READ) pg 256-271 (middle 64K)");
	do_mprotect(p, 256, 16, PROT_READ);
	snap(p);
	step_end();
	step_begin("P mprotect(PROT_READ|PROT_WRITE) pg 256-271");
	do_mprotect(p, 256, 16, PROT_READ | PROT_WRITE);
	snap(p);
	step_end();
	step_begin("P writes pg 260, then pg 0, then pg 511");
	WRITE1(p, 260);
	WRITE1(p, 0);
	WRITE1(p, 511);
	snap(p);
	step_end();
}

static void sc_fork_pmd_child_exit(void)
{
	struct proc *p = spawn("P");
	region(p, 2 * M, 2 * M, MADV_HUGEPAGE);
	step_begin("P writes pg 0-511, forks C");
	do_write(p, 0, 512);
	struct proc *c = do_fork(p, "C");
	snap_all();
	step_end();
	step_begin("C exits without touching");
	do_exit(c);
	snap(p);
	step_end();
	step_begin("P writes pg 7");
	WRITE1(p, 7);
	snap(p);
	step_end();
	step_begin("P writes pg 8 and pg 400");
	WRITE1(p, 8);
	WRITE1(p, 400);
	snap(p);
	step_end();
}

struct scenario {
	const char *name;
	void (*fn)(void);
	const char *knobs; /* "rel=value ..." on top of the boot defaults */
};

static const struct scenario scenarios[] = {
	{ "pmd-first-touch", sc_pmd_first_touch, "" },
	{ "pmd-first-touch-read-first", sc_pmd_read_first, "" },
	{ "mthp-first-touch", sc_mthp_first_touch,
	  "hugepages-64kB/enabled=madvise hugepages-2048kB/enabled=never" },
	{ "zero-page", sc_zero_page, "" },
	{ "fork-cow-4k", sc_fork_cow_4k, "" },
	{ "fork-cow-64k", sc_fork_cow_64k,
	  "hugepages-64kB/enabled=madvise hugepages-2048kB/enabled=never" },
	{ "fork-cow-2m", sc_fork_cow_2m, "" },
	{ "reuse-after-exit-64k", sc_reuse_after_exit_64k,
	  "hugepages-64kB/enabled=madvise hugepages-2048kB/enabled=never" },
	{ "reuse-after-exit-2m", sc_reuse_after_exit_2m, "" },
	{ "maybe-shared-three", sc_maybe_shared_three,
	  "hugepages-64kB/enabled=madvise hugepages-2048kB/enabled=never" },
	{ "maybe-shared-three-good-order", sc_maybe_shared_three_good,
	  "hugepages-64kB/enabled=madvise hugepages-2048kB/enabled=never" },
	{ "partial-unmap-shrink-64k", sc_partial_unmap_64k,
	  "hugepages-64kB/enabled=madvise hugepages-2048kB/enabled=never" },
	{ "partial-unmap-shrink-2m", sc_partial_unmap_2m, "" },
	{ "mprotect-pmd-split", sc_mprotect_pmd_split, "" },
	{ "fork-pmd-child-exit-parent-write", sc_fork_pmd_child_exit, "" },
};
#define NSCEN (sizeof scenarios / sizeof scenarios[0])

/* boot defaults for every scenario */
static void set_defaults(void)
{
	glob_t g;
	knob_set("enabled", "madvise");
	knob_set("defrag", "madvise");
	knob_set("use_zero_page", "1");
	knob_set("shrink_underused", "1");
	if (!glob(THP "/hugepages-*kB/enabled", 0, NULL, &g)) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			knobs_dirty = 1;
			const char *v = strstr(g.gl_pathv[i], "hugepages-2048kB/") ? "inherit" : "never";
			if (write_text(g.gl_pathv[i], v))
				fatal("write %s", g.gl_pathv[i]);
		}
		globfree(&g);
	}
}

static void apply_knobs(const char *spec)
{
	char buf[512], *save = NULL;
	snprintf(buf, sizeof buf, "%s", spec);
	for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(t, '=');
		if (!eq)
			continue;
		*eq = 0;
		knob_set(t, eq + 1);
	}
}

static void run_driver(const struct scenario *s)
{
	setpgid(0, 0);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	alarm(120);
	nlabels = nlarge = nsmall = 0;
	nprocs = 0;
	for (int i = 0; i < NSLOT; i++)
		if (pipe(to_w[i]) || pipe(from_w[i]))
			fatal("pipe");
	kpc_fd = open("/proc/kpagecount", O_RDONLY);
	kpf_fd = open("/proc/kpageflags", O_RDONLY);
	if (kpc_fd < 0 || kpf_fd < 0)
		fatal("open /proc/kpage*");
	s->fn();
	for (int i = 0; i < nprocs; i++)
		if (procs[i].alive) {
			struct cmd m = { 'x', 0, 0, 0 };
			if (write(to_w[procs[i].slot][1], &m, sizeof m) == sizeof m)
				waitpid(procs[i].pid, NULL, 0);
		}
	fflush(stdout);
	_exit(0);
}

/* A knob change can restart the khugepaged thread, which then scans once
 * at once; wait until full_scans has been stable for 300 ms (max 3 s). */
static void wait_khugepaged_idle(void)
{
	long last = read_long(THP "/khugepaged/full_scans");
	int stable = 0;
	for (int i = 0; i < 30 && stable < 3; i++) {
		usleep(100000);
		long now = read_long(THP "/khugepaged/full_scans");
		stable = now == last ? stable + 1 : 0;
		last = now;
	}
}

/* is the probe lock held by one of our ancestors (e.g. flock(1))? */
static int lock_held_by_ancestor(void)
{
	struct stat st;
	if (stat(LOCK_PATH, &st))
		return 0;
	FILE *f = fopen("/proc/locks", "r");
	if (!f)
		return 0;
	char line[256];
	int found = 0;
	while (!found && fgets(line, sizeof line, f)) {
		int pid;
		unsigned maj, min;
		unsigned long ino;
		char *p = strstr(line, "FLOCK");
		if (!p || sscanf(p, "FLOCK %*s %*s %d %x:%x:%lu", &pid, &maj, &min, &ino) != 4)
			continue;
		if (ino != st.st_ino)
			continue;
		for (pid_t a = getppid(); a > 1 && !found;) {
			if (a == pid)
				found = 1;
			char sp[64], b[1024];
			snprintf(sp, sizeof sp, "/proc/%d/stat", a);
			if (read_text(sp, b, sizeof b))
				break;
			char *rp = strrchr(b, ')');
			if (!rp || sscanf(rp + 2, "%*c %d", &a) != 1)
				break;
		}
	}
	fclose(f);
	return found;
}

static void take_lock(void)
{
	int fd = open(LOCK_PATH, O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		fatal("open %s", LOCK_PATH);
	if (!flock(fd, LOCK_EX | LOCK_NB))
		return; /* we hold it now (kept open until exit) */
	if (lock_held_by_ancestor()) {
		close(fd);
		return;
	}
	fprintf(stderr, "measure: waiting for %s\n", LOCK_PATH);
	if (flock(fd, LOCK_EX))
		fatal("flock");
}

int main(int argc, char **argv)
{
	int runs = 1;
	const char *only[64];
	int nonly = 0;

	if (argc > 1 && !strcmp(argv[1], "--restore")) {
		if (knobs_load())
			fatal("no state file %s", STATE_PATH);
		knobs_restore();
		int bad = knobs_check(stderr);
		if (!bad)
			unlink(STATE_PATH);
		fprintf(stderr, bad ? "measure: restore incomplete\n" : "measure: knobs restored\n");
		return bad ? 1 : 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--check")) {
		if (knobs_load())
			fatal("no state file %s", STATE_PATH);
		return knobs_check(stdout) ? 1 : 0;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-n") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (nonly < 64)
			only[nonly++] = argv[i];
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	take_lock();

	/* THP must not be disabled for this process tree */
	int was = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);
	if (prctl(PR_SET_THP_DISABLE, 0, 0, 0, 0))
		fatal("PR_SET_THP_DISABLE 0");

	main_pid = getpid();
	knobs_save();
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	atexit(at_exit_restore);

	struct utsname u;
	uname(&u);
	time_t now = time(NULL);
	char when[64];
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
	printf("# kmeasure: kernel %s %s %s, %s\n", u.sysname, u.release, u.machine, when);
	printf("# PR_GET_THP_DISABLE was %d, cleared\n", was);
	printf("# saved knobs:");
	for (int i = 0; i < nsaved; i++)
		printf(" %s=%s", saved[i].path + strlen(THP "/"), saved[i].val);
	printf("\n");

	/* Keep khugepaged from collapsing anything: an mm stays registered for the
	 * whole run (this process, via a MADV_HUGEPAGE VMA that is never touched),
	 * so new registrations never wake it; then the scan interval is set to 1 h
	 * (the write wakes it once, before any scenario exists). */
	char *keep = mmap(NULL, 4 * M, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (keep == MAP_FAILED || madvise(keep, 4 * M, MADV_HUGEPAGE))
		fatal("khugepaged keep-alive region");
	/* on this kernel MADV_HUGEPAGE alone does not register the mm with
	 * khugepaged; the first THP fault does (measured). Fault once, free it. */
	char *k2 = (char *)(((uintptr_t)keep + 2 * M - 1) & ~(uintptr_t)(2 * M - 1));
	*(volatile char *)k2 = 1;
	madvise(k2, 2 * M, MADV_DONTNEED);
	knob_set("khugepaged/scan_sleep_millisecs", "3600000");
	wait_khugepaged_idle();
	long collapsed0 = read_long(THP "/khugepaged/pages_collapsed");
	long scans0 = read_long(THP "/khugepaged/full_scans");

	int failed = 0;
	for (int r = 1; r <= runs; r++) {
		for (size_t i = 0; i < NSCEN; i++) {
			const struct scenario *s = &scenarios[i];
			if (nonly) {
				int ok = 0;
				for (int k = 0; k < nonly; k++)
					ok |= !strcmp(only[k], s->name);
				if (!ok)
					continue;
			}
			set_defaults();
			apply_knobs(s->knobs);
			wait_khugepaged_idle();
			printf("\n## %s (run %d) knobs: defaults%s%s\n", s->name, r,
			       *s->knobs ? " + " : "", s->knobs);
			fflush(stdout);
			driver_pid = fork();
			if (driver_pid < 0)
				fatal("fork driver");
			if (!driver_pid)
				run_driver(s);
			setpgid(driver_pid, driver_pid);
			int status;
			waitpid(driver_pid, &status, 0);
			kill(-driver_pid, SIGKILL); /* leftovers, if the driver died */
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
			driver_pid = 0;
			if (!WIFEXITED(status) || WEXITSTATUS(status)) {
				printf("  !! driver failed: status 0x%x\n", status);
				failed++;
			}
		}
	}
	printf("\n# khugepaged during run: pages_collapsed %+ld, full_scans %+ld\n",
	       read_long(THP "/khugepaged/pages_collapsed") - collapsed0,
	       read_long(THP "/khugepaged/full_scans") - scans0);

	knobs_restore();
	int bad = knobs_check(stdout);
	knobs_dirty = 0;
	if (!bad)
		unlink(STATE_PATH);
	printf("# knobs restored: %s\n", bad ? "NO (see DIFF lines)" : "all equal to saved values");
	fflush(stdout);
	return failed || bad ? 1 : 0;
}
