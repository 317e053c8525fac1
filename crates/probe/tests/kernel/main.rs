//! Kernel tests: run only with `FOLIOLAB_KERNEL_TESTS=1` (or `=require`, which turns every
//! skip into a failure) on a machine that can (root, THP sizes 64K and 2M, zram). Without the
//! variable nothing touches the host: every test is reported skipped with its reason, and so
//! is every test that finds it cannot run here (a skip is never a pass).
//!
//! Host safety (issue 10): each test compares a full snapshot of every THP knob (global,
//! per-size anon and shmem, khugepaged's), the khugepaged thread, /proc/swaps, zram0 and the
//! journal, taken with the host lock held by the test, before and after:
//! - `host_restored_normal_end` (and the journal/helper environment overrides ignored);
//! - `host_restored_on_sigquit_sighup_and_every_catchable_signal`;
//! - `host_restored_sigkill_next_start`, `host_restored_sigkill_restore`;
//! - `lock_wait_signal_leaves_the_holder_alone`: a second probe signalled while it waits;
//! - `zram_busy_knobs_restored_journal_keeps_zram`;
//! - `refused_beyond_mem_available`, `refused_in_a_small_cgroup`: exit 2, nothing touched;
//! - `huge_observation_streams`, `killed_helper_fails_the_run`;
//! - `cow_pin_in_forked_child_passes`;
//! - `khugepaged_counts_only_the_scenario`: another process's collapsible memory on the host;
//!
//! and `corpus_passes_five_identical_runs`: every scenario of tests/conformance passes on the
//! kernel, five runs in a row with identical records.

mod corpus;
mod lab;
mod resources;
mod safety;

use lab::TestResult;
use std::path::Path;
use std::time::Instant;

/// Why this machine cannot run kernel tests, if it cannot.
fn cannot() -> Option<String> {
    match std::env::var("FOLIOLAB_KERNEL_TESTS").ok().as_deref() {
        Some("1") | Some("require") => {}
        _ => return Some("FOLIOLAB_KERNEL_TESTS not set (set it to 1 or require)".into()),
    }
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    for d in ["hugepages-64kB", "hugepages-2048kB"] {
        if !Path::new(lab::THP).join(d).exists() {
            return Some(format!("no THP size {d}"));
        }
    }
    if !Path::new("/dev/zram0").exists() {
        return Some("no /dev/zram0".into());
    }
    None
}

type TestFn = fn() -> TestResult;

fn tests() -> Vec<(&'static str, TestFn)> {
    vec![
        ("host_restored_normal_end", safety::normal_end),
        (
            "host_restored_on_sigquit_sighup_and_every_catchable_signal",
            safety::every_signal,
        ),
        (
            "host_restored_sigkill_next_start",
            safety::sigkill_next_start,
        ),
        ("host_restored_sigkill_restore", safety::sigkill_restore),
        (
            "lock_wait_signal_leaves_the_holder_alone",
            safety::lock_wait_signal,
        ),
        (
            "zram_busy_knobs_restored_journal_keeps_zram",
            safety::zram_busy,
        ),
        (
            "refused_beyond_mem_available",
            resources::refused_beyond_mem_available,
        ),
        (
            "refused_in_a_small_cgroup",
            resources::refused_in_a_small_cgroup,
        ),
        (
            "huge_observation_streams",
            resources::huge_observation_streams,
        ),
        (
            "killed_helper_fails_the_run",
            resources::killed_helper_fails_the_run,
        ),
        (
            "cow_pin_in_forked_child_passes",
            corpus::cow_pin_in_forked_child,
        ),
        (
            "khugepaged_counts_only_the_scenario",
            corpus::khugepaged_with_a_foreign_process,
        ),
        (
            "corpus_passes_five_identical_runs",
            corpus::five_identical_runs,
        ),
    ]
}

#[derive(Default)]
struct Tally {
    pass: u32,
    fail: u32,
    skip: u32,
}

impl Tally {
    fn skip(&mut self, name: &str, why: &str, require: bool) {
        if require {
            println!("test {name} ... FAILED (required, but cannot run: {why})");
            self.fail += 1;
        } else {
            println!("test {name} ... skipped: {why}");
            self.skip += 1;
        }
    }

    fn run(&mut self, name: &str, f: TestFn, require: bool) {
        let t = Instant::now();
        match f() {
            Ok(note) => {
                println!(
                    "test {name} ... ok ({:.1}s): {note}",
                    t.elapsed().as_secs_f64()
                );
                self.pass += 1;
            }
            Err(e) => match e.strip_prefix("skip: ") {
                Some(why) => self.skip(name, why, require),
                None => {
                    println!("test {name} ... FAILED: {e}");
                    self.fail += 1;
                }
            },
        }
    }
}

fn main() {
    let require = std::env::var("FOLIOLAB_KERNEL_TESTS").ok().as_deref() == Some("require");
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let why = cannot();
    let all = tests();
    println!("\nrunning {} kernel tests", all.len());
    let mut t = Tally::default();
    for (name, f) in all {
        if filter
            .as_ref()
            .is_some_and(|flt| !name.contains(flt.as_str()))
        {
            continue;
        }
        match &why {
            Some(w) => t.skip(name, w, require),
            None => t.run(name, f, require),
        }
    }
    println!(
        "\nkernel tests: {} passed, {} failed, {} skipped",
        t.pass, t.fail, t.skip
    );
    println!(
        "test result: {}. {} passed; {} failed; 0 ignored; 0 measured; {} filtered out",
        if t.fail == 0 { "ok" } else { "FAILED" },
        t.pass,
        t.fail,
        t.skip
    );
    std::process::exit(if t.fail == 0 { 0 } else { 1 });
}
