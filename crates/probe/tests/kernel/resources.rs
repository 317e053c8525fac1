//! Resource limits: scenarios that do not fit are refused before the probe touches anything
//! (not even the lock), observation of a huge region streams, and a helper killed from
//! outside is a failed run.

use crate::lab::*;
use foliolab_probe::budget::{memory_cgroups, Hierarchy};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn mem_available() -> u64 {
    let m = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    m.lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// Runs the probe on `file` while this test holds the lock: a refusal must come without
/// waiting for it (exit 2, `refused`), and the host must not change.
fn refused_without_the_lock(file: &Path, wrap: Option<&Path>) -> Result<String, String> {
    let before = quiet_snapshot()?;
    let lock = wait_lock().get()?;
    let f = file.display().to_string();
    let mut cmd = match wrap {
        Some(cg) => {
            let mut c = Command::new("sh");
            c.args([
                "-c",
                "echo $$ > \"$0\" && exec \"$@\"",
                &cg.join("cgroup.procs").display().to_string(),
                RUN,
                &f,
            ]);
            c
        }
        None => {
            let mut c = Command::new(RUN);
            c.arg(&f);
            c
        }
    };
    let p = Probe::start_with(&mut cmd)?;
    let t = std::time::Instant::now();
    while !p.ended() {
        if t.elapsed() > Duration::from_secs(20) {
            p.signal(libc::SIGKILL);
            return Err("the probe did not refuse at once (it waits for the lock?)".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = p.wait();
    let after = snapshot();
    drop(lock);
    if r.code != Some(2) || !r.err.contains("refused") || r.err.contains("waiting for") {
        return Err(format!("{f}: {r:?}"));
    }
    same("host after a refusal", &before, &after)?;
    Ok(r.err
        .lines()
        .find(|l| l.contains("refused"))
        .unwrap_or("")
        .to_string())
}

/// More memory written than the host has: 2 GiB per process, as many as it takes.
pub fn refused_beyond_mem_available() -> TestResult {
    let n = mem_available() / (2 << 30) + 2;
    let mut body = String::new();
    for i in 0..n {
        body.push_str(&format!("spawn p{i}\np{i}: map a 2G\np{i}: write a 0x1\n"));
    }
    let f = scenario_file("too-big", &body)?;
    let msg = refused_without_the_lock(&f, None)?;
    let _ = std::fs::remove_file(&f);
    if !msg.contains("MemAvailable") {
        return Err(format!("not limited by MemAvailable: {msg}"));
    }
    Ok(format!("{n} x 2 GiB: {msg}"))
}

/// A child memory cgroup of this process's with a 1 GiB limit, removed when dropped.
struct Cgroup(PathBuf);

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn small_cgroup() -> Result<Cgroup, String> {
    let Some(h): Option<Hierarchy> = memory_cgroups().into_iter().next() else {
        return Err("skip: this process is in no memory cgroup hierarchy".into());
    };
    let dir = h.dir.join(format!("foliolab-kt-{}", std::process::id()));
    std::fs::create_dir(&dir).map_err(|e| format!("skip: cannot create {}: {e}", dir.display()))?;
    let cg = Cgroup(dir);
    let limit = if h.v2 {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    std::fs::write(cg.0.join(limit), (1u64 << 30).to_string())
        .map_err(|e| format!("skip: cannot set {limit} in {}: {e}", cg.0.display()))?;
    Ok(cg)
}

/// In a 1 GiB cgroup: 3 GiB written, and 100 helpers, are refused; a small scenario runs.
pub fn refused_in_a_small_cgroup() -> TestResult {
    let cg = small_cgroup()?;
    let big = scenario_file(
        "cg-3g",
        "spawn p\np: map a 3G\np: write a 0x1\np: expect a present\n",
    )?;
    let m1 = refused_without_the_lock(&big, Some(&cg.0))?;
    let body: String = (0..100).map(|i| format!("spawn p{i}\n")).collect();
    let many = scenario_file("cg-spawns", &body)?;
    let m2 = refused_without_the_lock(&many, Some(&cg.0))?;
    for (f, m) in [(&big, &m1), (&many, &m2)] {
        let _ = std::fs::remove_file(f);
        if !m.contains(&cg.0.display().to_string()) {
            return Err(format!("not limited by the test cgroup: {m}"));
        }
    }
    let small = conformance("first-touch-4k.scn").display().to_string();
    let procs = cg.0.join("cgroup.procs").display().to_string();
    let r = Probe::start_with(Command::new("sh").args([
        "-c",
        "echo $$ > \"$0\" && exec \"$@\"",
        &procs,
        RUN,
        &small,
    ]))?
    .wait();
    if r.code != Some(0) {
        return Err(format!("a small scenario in the cgroup: {r:?}"));
    }
    Ok(format!(
        "3 GiB: {m1}; 100 spawns refused too; a small scenario ran"
    ))
}

/// `map a 4G prot=none` + `expect a none`: the probe streams it (its peak RSS stays small).
pub fn huge_observation_streams() -> TestResult {
    let f = scenario_file("huge", "spawn p\np: map a 4G prot=none\np: expect a none\n")?;
    let r = run(&[&f.display().to_string()])?;
    let _ = std::fs::remove_file(&f);
    if r.code != Some(0) || !r.out.contains("1 pass") {
        return Err(format!("{r:?}"));
    }
    // 4G is the most one statement may walk (spec 4.2); kept per page it would be about
    // 128 MiB (the probe once grew to 1 GB observing 32G).
    if r.maxrss_kb > 48 * 1024 {
        return Err(format!(
            "the probe grew to {} MiB observing 4G",
            r.maxrss_kb / 1024
        ));
    }
    Ok(format!(
        "1M pages checked; probe peak RSS {} MiB",
        r.maxrss_kb / 1024
    ))
}

/// A helper SIGKILLed from outside: exit 1 with a `died` problem naming the signal, whether
/// the dead process is used next (its helper gone mid-request) or not (seen after the
/// statement).
pub fn killed_helper_fails_the_run() -> TestResult {
    let body = "spawn p\np: map a 64K\np: write a 0x1\nspawn q\nq: map b 64K\nq: write b 0x2\nq: expect b == 0x2\np: write a 0x3\n";
    let f = scenario_file("killed", body)?;
    let fs = f.display().to_string();
    let mut notes = Vec::new();
    for (line, why) in [
        ("5:p", "seen after `spawn q`"),
        ("9:p", "its own next write"),
    ] {
        let r = run(&["--json", "--kill-helper", line, &fs])?;
        let died = r
            .out
            .lines()
            .find(|l| l.contains("\"kind\":\"problem\"") && l.contains("\"died\""));
        if r.code != Some(1) || died.is_none_or(|d| !d.contains("killed by SIGKILL")) {
            return Err(format!("kill at {line}: {r:?}"));
        }
        notes.push(format!("{why}: exit 1"));
    }
    let _ = std::fs::remove_file(&f);
    no_helpers_left()?;
    Ok(notes.join("; "))
}
