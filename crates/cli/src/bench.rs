//! `foliolab bench`: fork, child exit and munmap of touched anonymous memory backed by 4K
//! pages, 64K mTHP and 2M THP, on the model (with and without the checks after every
//! statement) and on this machine's kernel, measured live in the same run (the kernel side
//! is crates/probe's `bench`, which never uses the model). Medians of `--runs`, and the
//! model/kernel ratio of each. Without root the model is printed alone, with the reason.
//! Timing is measured here, never asserted in tests.
//!
//! Both sides are timed by the CPU time of the thread doing the work, not the wall clock,
//! so that other jobs on the host do not count: the model's statement (with what follows
//! it) by this thread's `CLOCK_THREAD_CPUTIME_ID`, the kernel's fork and munmap by the
//! worker's, its child exit by the exiting child's own CPU time (crates/probe's `bench`
//! says how). The kernel's wall-clock figures are in `--json` (`kernel_wall_ms`).

use anyhow::{bail, Context};
use clap::Args;
use foliolab_driver::Runner;
use foliolab_probe::bench::{thread_cpu_ns, Backing, KernelSample};
use foliolab_sim::ModelRunner;

#[derive(Args)]
pub struct BenchArgs {
    /// Repetitions per backing (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Region size in MiB.
    #[arg(long, default_value_t = 1024)]
    pub mib: u64,
    /// One JSON object on standard output.
    #[arg(long)]
    pub json: bool,
    /// Measure the model only, even as root.
    #[arg(long)]
    pub no_kernel: bool,
}

/// Milliseconds of the three timed operations of one run.
#[derive(Clone, Copy, Debug, Default)]
struct Times {
    fork: f64,
    exit: f64,
    munmap: f64,
}

const OPS: [&str; 3] = ["fork", "child exit", "munmap"];

impl Times {
    fn get(&self, op: usize) -> f64 {
        [self.fork, self.exit, self.munmap][op]
    }
}

/// One backing's medians.
struct Row {
    backing: Backing,
    model: Times,
    checked: Times,
    kernel: Option<Times>,
    /// The kernel's medians by the wall clock.
    kernel_wall: Option<Times>,
}

pub fn bench(args: BenchArgs) -> anyhow::Result<u8> {
    if args.runs == 0 || args.mib == 0 || !args.mib.is_multiple_of(2) {
        bail!("--runs must be at least 1 and --mib a positive multiple of 2");
    }
    let len_bytes = args.mib << 20;
    // First, before any other run: the 4K workload without checks holds the most pages and
    // tables, and this process's resident set has not grown yet.
    let memory = model_memory(args.mib)?;
    let mut rows = Vec::new();
    for b in Backing::ALL {
        let model = median_of(args.runs, || model_run(b, args.mib, false))?;
        let checked = median_of(args.runs, || model_run(b, args.mib, true))?;
        rows.push(Row {
            backing: b,
            model,
            checked,
            kernel: None,
            kernel_wall: None,
        });
    }
    let kernel = kernel_side(&args, len_bytes);
    if let Ok(k) = &kernel {
        for (row, (_, samples)) in rows.iter_mut().zip(k) {
            row.kernel = Some(kernel_median(samples));
            row.kernel_wall = Some(kernel_wall_median(samples));
        }
    }
    let why_not = kernel.as_ref().err().cloned();
    if args.json {
        println!("{}", json(&args, &rows, &memory, why_not.as_deref()));
    } else {
        print_table(&args, &rows, &memory, why_not.as_deref());
    }
    Ok(0)
}

/// The model's memory over one run of the 4K workload without checks, in bytes per
/// modelled 4K page.
struct Memory {
    /// Peak heap bytes live during the run beyond those live before it, counted by the
    /// allocator: memmap, contents, design words, page tables, expected memory, everything.
    heap_per_page: f64,
    /// Peak resident set growth of this process over the run (includes what the C allocator
    /// keeps), if /proc/self/status is readable.
    rss_per_page: Option<f64>,
}

fn model_memory(mib: u64) -> anyhow::Result<Memory> {
    let pages = ((mib << 20) / 4096) as f64;
    let rss_before = status_kib("VmRSS");
    let live_before = crate::heap::live_bytes();
    crate::heap::reset_peak();
    model_run(Backing::Base4K, mib, false)?;
    let heap = crate::heap::peak_bytes().saturating_sub(live_before);
    let rss = rss_before
        .zip(status_kib("VmHWM"))
        .map(|(before, peak)| (peak.saturating_sub(before) << 10) as f64 / pages);
    Ok(Memory {
        heap_per_page: heap as f64 / pages,
        rss_per_page: rss,
    })
}

/// The kernel's samples, or why there are none.
fn kernel_side(
    args: &BenchArgs,
    len_bytes: u64,
) -> Result<Vec<(Backing, Vec<KernelSample>)>, String> {
    if args.no_kernel {
        return Err("--no-kernel".into());
    }
    if !foliolab_probe::bench::is_root() {
        return Err(
            "not root: the kernel side needs root to set THP knobs for the run (run as root, or read the model's figures alone)"
                .into(),
        );
    }
    foliolab_probe::bench::measure(len_bytes, args.runs, &Backing::ALL).map_err(|e| e.to_string())
}

fn kernel_median(samples: &[KernelSample]) -> Times {
    let med = |f: fn(&KernelSample) -> f64| median(samples.iter().map(f).collect());
    Times {
        fork: med(|s| s.fork_ms),
        exit: med(|s| s.exit_ms),
        munmap: med(|s| s.munmap_ms),
    }
}

fn kernel_wall_median(samples: &[KernelSample]) -> Times {
    let med = |i: usize| median(samples.iter().map(|s| s.wall[i]).collect());
    Times {
        fork: med(0),
        exit: med(1),
        munmap: med(2),
    }
}

fn median_of(runs: usize, mut f: impl FnMut() -> anyhow::Result<Times>) -> anyhow::Result<Times> {
    let mut all = Vec::new();
    for _ in 0..runs {
        all.push(f()?);
    }
    let med = |g: fn(&Times) -> f64| median(all.iter().map(g).collect());
    Ok(Times {
        fork: med(|t| t.fork),
        exit: med(|t| t.exit),
        munmap: med(|t| t.munmap),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The workload as a scenario: the region touched, a fork, the child's exit, the munmap.
fn scenario_text(b: Backing, mib: u64) -> String {
    let (thp, advice) = match b {
        Backing::Base4K => ("", "nohugepage"),
        Backing::Mthp64K => ("thp 64K=madvise 2M=never\n", "hugepage"),
        Backing::Pmd2M => ("thp 2M=madvise\n", "hugepage"),
    };
    format!(
        "scenario 1\n{thp}spawn p\np: map a {mib}M\np: advise a {advice}\np: write a 0x1\np: fork c\nc: exit\np: unmap a\n"
    )
}

/// One model run; the fork, exit and unmap statements timed (this thread's CPU time) with
/// what follows each statement (the checks when `checked`).
fn model_run(b: Backing, mib: u64, checked: bool) -> anyhow::Result<Times> {
    let s = foliolab_scenario::parse("bench.scn", &scenario_text(b, mib))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    foliolab_scenario::validate(&s).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut r = ModelRunner::new("linux-6.18").context("scheme linux-6.18")?;
    r.check_every_statement = checked;
    let mut ms = Vec::new();
    for stmt in s.statements() {
        let t = thread_cpu_ns();
        r.perform(stmt)
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let problems = r.after_statement(stmt);
        ms.push(thread_cpu_ns().saturating_sub(t) as f64 / 1e6);
        if let Some(p) = problems.first() {
            bail!("model problem in the bench workload: {}", p.message);
        }
    }
    let n = ms.len();
    Ok(Times {
        fork: ms[n - 3],
        exit: ms[n - 2],
        munmap: ms[n - 1],
    })
}

/// A `/proc/self/status` field in KiB.
fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn ratio(model: f64, kernel: Option<&Times>, op: usize) -> Option<f64> {
    kernel.map(|k| model / k.get(op).max(1e-6))
}

fn print_table(args: &BenchArgs, rows: &[Row], memory: &Memory, why_not: Option<&str>) {
    println!(
        "# fork / child exit / munmap of {} MiB of touched anon memory, median of {}, in ms of CPU time",
        args.mib, args.runs
    );
    println!("# (the thread doing the work: the model's; the kernel's parent for fork and munmap, the exiting child for exit)");
    if let Some(why) = why_not {
        println!("# kernel: not measured: {why}");
    }
    println!(
        "{:>4}  {:<10} {:>10} {:>12} {:>10} {:>7} {:>13}",
        "", "operation", "model", "model+check", "kernel", "ratio", "ratio+check"
    );
    let opt = |v: Option<f64>, prec: usize| v.map_or("-".to_string(), |x| format!("{x:.prec$}"));
    for r in rows {
        for (i, op) in OPS.iter().enumerate() {
            let k = r.kernel.as_ref();
            println!(
                "{:>4}  {:<10} {:>10.3} {:>12.3} {:>10} {:>7} {:>13}",
                r.backing.name(),
                op,
                r.model.get(i),
                r.checked.get(i),
                opt(k.map(|k| k.get(i)), 3),
                opt(ratio(r.model.get(i), k, i), 2),
                opt(ratio(r.checked.get(i), k, i), 2),
            );
        }
    }
    let rss = memory
        .rss_per_page
        .map_or("unknown".to_string(), |b| format!("{b:.1}"));
    println!(
        "model memory: {:.1} bytes per modelled 4K page at the peak of one run over {} MiB of 4K pages, checks off (heap bytes live, counted by the allocator: memmap, contents, design words, both processes' page tables, expected memory); peak RSS growth {rss} bytes per page",
        memory.heap_per_page, args.mib
    );
}

fn json(args: &BenchArgs, rows: &[Row], memory: &Memory, why_not: Option<&str>) -> String {
    let mut out = Vec::new();
    for r in rows {
        for (i, op) in OPS.iter().enumerate() {
            let k = r.kernel.as_ref();
            out.push(serde_json::json!({
                "backing": r.backing.name(),
                "operation": op,
                "model_ms": r.model.get(i),
                "model_checked_ms": r.checked.get(i),
                "kernel_ms": k.map(|k| k.get(i)),
                "kernel_wall_ms": r.kernel_wall.as_ref().map(|k| k.get(i)),
                "ratio": ratio(r.model.get(i), k, i),
                "ratio_checked": ratio(r.checked.get(i), k, i),
            }));
        }
    }
    let record = serde_json::json!({
        "kind": "bench",
        "line": 0,
        "mib": args.mib,
        "runs": args.runs,
        "clock": "thread-cpu",
        "kernel_measured": why_not.is_none(),
        "kernel_not_measured_because": why_not,
        "model_bytes_per_page": memory.heap_per_page,
        "model_rss_bytes_per_page": memory.rss_per_page,
        "rows": out,
    });
    // One output record of schema 1 (docs/json-schema.md), about no scenario file.
    foliolab_driver::output::stamp(None, &record.to_string())
}
