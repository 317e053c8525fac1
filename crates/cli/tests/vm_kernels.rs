//! Kernel tests of `--kernel K`: scenarios in VMs booting other kernels. They run only with
//! `FOLIOLAB_KERNEL_TESTS=1` (or `=require`, which turns every skip into a failure), as root,
//! with QEMU installed (`.ci/run` installs it); otherwise each is reported skipped with its
//! reason. The kernels are `FOLIOLAB_VM_KERNELS` (default `6.1 6.12`), downloaded into
//! foliolab's cache the first time (`FOLIOLAB_CACHE`; `.ci/run` keeps one for CI).
//!
//! - `vm_probe_K`: the whole conformance corpus in one boot of kernel K: every scenario runs
//!   or is unsupported with its reason, none breaks off; what every generation shares holds
//!   (fork-cow-2m passes everywhere, 64K scenarios need 6.8's per-size knobs); and the host's
//!   THP knobs, khugepaged settings, swap, zram, MGLRU, apt sources and /boot are identical
//!   before and after; on the build whose results are committed in
//!   docs/kernel-measurements/K, every scenario's records are identical to them;
//! - `vm_probe_kernel_path`: a kernel image given by path (an unpacked Debian image standing
//!   in for a developer's build) with its modules directory boots and runs swap scenarios.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const FOLIOLAB: &str = env!("CARGO_BIN_EXE_foliolab");
const THP: &str = "/sys/kernel/mm/transparent_hugepage";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn corpus() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("tests/conformance"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "scn"))
                .map(|p| {
                    format!(
                        "tests/conformance/{}",
                        p.file_name().unwrap_or_default().to_string_lossy()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Why this machine cannot boot VMs, if it cannot.
fn cannot() -> Option<String> {
    support::cannot_run_kernel_tests().or_else(|| {
        foliolab_probe::vm::qemu::find_qemu()
            .is_err()
            .then(|| "qemu-system-x86_64 not found (install qemu-system-x86; .ci/run does)".into())
    })
}

fn listing(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let len = e.metadata().map(|m| m.len()).unwrap_or(0);
                    format!("{dir}/{} {len}", e.file_name().to_string_lossy())
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// What a VM run must leave alone: every THP knob (khugepaged's included), the swaps, zram0,
/// MGLRU, the apt sources and lists, /boot.
fn host_state() -> Vec<String> {
    let mut v = Vec::new();
    for k in foliolab_probe::host::knob_names() {
        let val = foliolab_probe::sys::read_knob(Path::new(THP).join(&k))
            .unwrap_or_else(|e| e.to_string());
        v.push(format!("{k}={val}"));
    }
    v.push(format!("swaps={:?}", foliolab_probe::host::active_swaps()));
    for f in [
        "/sys/block/zram0/disksize",
        "/sys/kernel/mm/lru_gen/enabled",
        "/etc/apt/sources.list",
    ] {
        v.push(format!(
            "{f}={}",
            std::fs::read_to_string(f)
                .unwrap_or_else(|_| "(absent)".into())
                .trim()
        ));
    }
    for d in [
        "/etc/apt/sources.list.d",
        "/etc/apt/apt.conf.d",
        "/var/lib/apt/lists",
        "/boot",
    ] {
        v.extend(listing(d));
    }
    for f in listing("/etc/apt/sources.list.d") {
        let path = f.split(' ').next().unwrap_or_default().to_string();
        v.push(format!(
            "{path}: {}",
            std::fs::read_to_string(&path).unwrap_or_default()
        ));
    }
    v
}

fn diff(a: &[String], b: &[String]) -> String {
    let gone = a
        .iter()
        .filter(|x| !b.contains(x))
        .map(|x| format!("- {x}"));
    let new = b
        .iter()
        .filter(|x| !a.contains(x))
        .map(|x| format!("+ {x}"));
    gone.chain(new).collect::<Vec<_>>().join("\n")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn foliolab(args: &[&str]) -> Result<Run, String> {
    let out = Command::new(FOLIOLAB)
        .current_dir(root())
        .args(args)
        .output()
        .map_err(|e| format!("start {FOLIOLAB}: {e}"))?;
    Ok(Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Outcome of each scenario from a `--save` directory: `jsonl` (ran), `unsupported`, `error`.
fn outcomes(save: &Path, files: &[String]) -> Result<Vec<(String, &'static str, String)>, String> {
    let mut v = Vec::new();
    for f in files {
        let base = save.join(f);
        let found = ["jsonl", "unsupported", "error"]
            .into_iter()
            .find_map(|ext| {
                std::fs::read_to_string(base.with_extension(ext))
                    .ok()
                    .map(|t| (ext, t))
            });
        let (ext, text) = found.ok_or_else(|| format!("{f}: no result in {}", save.display()))?;
        v.push((f.clone(), ext, text));
    }
    Ok(v)
}

fn summary_exit(jsonl: &str) -> Option<i64> {
    jsonl
        .lines()
        .filter(|l| l.contains("\"kind\":\"summary\""))
        .find_map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()?
                .get("exit")?
                .as_i64()
        })
}

fn probe_generation(k: &str) -> Result<String, String> {
    let files = corpus();
    if files.len() < 60 {
        return Err(format!(
            "only {} scenarios in tests/conformance",
            files.len()
        ));
    }
    let save = std::env::temp_dir().join(format!("foliolab-vm-test-{k}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&save);
    let before = host_state();
    let t = Instant::now();
    let mut args = vec![
        "probe",
        "--kernel",
        k,
        "--save",
        save.to_str().unwrap_or_default(),
    ];
    args.extend(files.iter().map(String::as_str));
    let run = foliolab(&args)?;
    let secs = t.elapsed().as_secs_f64();
    let after = host_state();
    if before != after {
        return Err(format!(
            "the host changed during the VM run:\n{}",
            diff(&before, &after)
        ));
    }
    if run.code == 2 {
        return Err(format!("exit 2: {}\n{}", run.stderr, run.stdout));
    }
    let results = outcomes(&save, &files)?;
    let verdict = check_generation(k, &results).and_then(|_| against_committed(k, &save, &results));
    let _ = std::fs::remove_dir_all(&save);
    let same_as_committed = verdict?;
    let ran = results.iter().filter(|r| r.1 == "jsonl").count();
    let unsupported: Vec<&(String, &str, String)> =
        results.iter().filter(|r| r.1 == "unsupported").collect();
    let mut by_reason: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for (f, _, why) in &unsupported {
        // "line N: REASON": grouped by the reason without its line.
        let first = why.lines().next().unwrap_or("");
        let reason = first.split_once(": ").map_or(first, |(_, r)| r);
        let name = f.rsplit('/').next().unwrap_or(f);
        by_reason.entry(reason.to_string()).or_default().push(name);
    }
    for (reason, files) in &by_reason {
        println!(
            "  {k}: {} unsupported: {reason}: {}",
            files.len(),
            files.join(" ")
        );
    }
    let closing = run
        .stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("vm: --kernel"))
        .unwrap_or("");
    println!("  {closing}");
    Ok(format!(
        "{} scenarios in one boot of {k}: {ran} ran, {} unsupported; {secs:.1} s; host state identical before and after; {same_as_committed}",
        files.len(),
        unsupported.len()
    ))
}

/// The release a saved run's facts name.
fn release(facts: &Path) -> Option<String> {
    let t = std::fs::read_to_string(facts).ok()?;
    t.lines()
        .find_map(|l| l.strip_prefix("release = "))
        .map(String::from)
}

/// Compares this run's records with those committed in docs/kernel-measurements/<k>/ when
/// the kernel build is the same (a machine that downloaded a newer build says so instead):
/// a kernel shows the same thing every run, so any difference is the runner's.
fn against_committed(
    k: &str,
    save: &Path,
    results: &[(String, &'static str, String)],
) -> Result<String, String> {
    let committed = root().join("docs/kernel-measurements").join(k);
    let (now, then) = (
        release(&save.join("facts.txt")),
        release(&committed.join("facts.txt")),
    );
    if now.is_none() || now != then {
        return Ok(format!(
            "not compared with docs/kernel-measurements/{k} (build {now:?}, committed {then:?})"
        ));
    }
    let mut same = 0;
    for (f, ext, text) in results {
        let old = std::fs::read_to_string(committed.join(f).with_extension(ext)).map_err(|e| {
            format!(
                "{k}: {f}: no committed .{ext} result ({e}); a new scenario needs its records: \
                     foliolab probe --kernel {k} --save /tmp/m {f}, then copy \
                     /tmp/m/{f} (.jsonl or .unsupported) into docs/kernel-measurements/{k}/"
            )
        })?;
        if old != *text {
            return Err(format!(
                "{k}: {f} differs from docs/kernel-measurements/{k}:\n{}",
                diff(
                    &old.lines().map(String::from).collect::<Vec<_>>(),
                    &text.lines().map(String::from).collect::<Vec<_>>()
                )
            ));
        }
        same += 1;
    }
    Ok(format!(
        "{same} results identical to docs/kernel-measurements/{k}"
    ))
}

/// What holds on every generation.
fn check_generation(k: &str, results: &[(String, &'static str, String)]) -> Result<(), String> {
    let mut ran = 0;
    for (f, ext, text) in results {
        match *ext {
            "error" => return Err(format!("{k}: {f} broke off: {text}")),
            "jsonl" => {
                ran += 1;
                match summary_exit(text) {
                    Some(0) | Some(1) => {}
                    other => return Err(format!("{k}: {f}: exit {other:?}\n{text}")),
                }
                if text.contains("\"problem\":\"run_error\"") {
                    return Err(format!("{k}: {f}: a statement could not run:\n{text}"));
                }
            }
            _ => {}
        }
    }
    if ran < 30 {
        return Err(format!("{k}: only {ran} scenarios ran"));
    }
    let get = |name: &str| results.iter().find(|r| r.0.ends_with(name));
    match get("/fork-cow-2m.scn") {
        Some((_, "jsonl", t)) if summary_exit(t) == Some(0) => {}
        other => return Err(format!("{k}: fork-cow-2m did not pass: {other:?}")),
    }
    let old = foliolab_probe::compat::KernelVersion::from_release(k)
        .is_some_and(|v| v < foliolab_probe::compat::KernelVersion::new(6, 8));
    match get("/fork-cow-64k.scn") {
        Some((_, "unsupported", why)) if old && why.contains("6.8") => Ok(()),
        Some((_, "jsonl", _)) if !old => Ok(()),
        other => Err(format!("{k}: fork-cow-64k: {other:?}")),
    }
}

fn probe_kernel_path() -> Result<String, String> {
    let k = kernels().into_iter().next().unwrap_or_else(|| "6.1".into());
    let prep = foliolab(&["kernel", &k])?;
    if prep.code != 0 {
        return Err(format!("foliolab kernel {k}: {}", prep.stderr));
    }
    let field = |name: &str| {
        prep.stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let image = field("image:").ok_or("no image: line")?;
    let modules = field("modules:")
        .and_then(|m| {
            m.split("(in ")
                .nth(1)
                .map(|d| d.trim_end_matches(')').to_string())
        })
        .ok_or("no modules directory")?;
    let t = Instant::now();
    let files = [
        "tests/conformance/fork-cow-2m.scn",
        "tests/conformance/swap-pageout-2m.scn",
    ];
    let mut args = vec!["probe", "--kernel", &image, "--kernel-modules", &modules];
    args.extend(files);
    let run = foliolab(&args)?;
    if run.code != 0 {
        return Err(format!(
            "--kernel {image}: exit {}\n{}\n{}",
            run.code, run.stdout, run.stderr
        ));
    }
    let summaries = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("kernel:"))
        .count();
    if summaries != files.len() {
        return Err(format!(
            "{summaries} of {} scenarios ran:\n{}",
            files.len(),
            run.stdout
        ));
    }
    Ok(format!(
        "--kernel {image} --kernel-modules {modules}: {} scenarios ran (swap on zram included) in {:.1} s",
        files.len(),
        t.elapsed().as_secs_f64()
    ))
}

fn kernels() -> Vec<String> {
    std::env::var("FOLIOLAB_VM_KERNELS")
        .unwrap_or_else(|_| "6.1 6.12".into())
        .split_whitespace()
        .map(String::from)
        .collect()
}

fn main() {
    let mut tests: Vec<support::KernelTest> = Vec::new();
    for k in kernels() {
        let kk = k.clone();
        tests.push((
            format!("vm_probe_{k}"),
            Box::new(move || probe_generation(&kk)),
        ));
    }
    tests.push(("vm_probe_kernel_path".into(), Box::new(probe_kernel_path)));
    println!("\nrunning {} VM kernel tests", tests.len());
    let t0 = Instant::now();
    let (pass, fail, skip) = support::run_kernel_tests(&tests, cannot);
    println!(
        "\n{pass} passed, {fail} failed, {skip} skipped; VM tests took {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    if fail > 0 {
        std::process::exit(1);
    }
}
