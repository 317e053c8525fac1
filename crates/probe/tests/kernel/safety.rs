//! Host-safety tests: every one compares a full snapshot (every THP knob, khugepaged,
//! swap, zram, the journal) taken with the host lock held by the test before and after.

use crate::lab::*;
use std::time::Duration;

/// A scenario that leaves swap on, knobs changed and helpers alive while `--hold`ing.
fn holding_scenario() -> String {
    conformance("swap-pageout-64k.scn").display().to_string()
}

/// The baseline: any journal a killed probe left restored first, then a quiet snapshot.
fn baseline() -> Result<Vec<String>, String> {
    let r = run(&["--restore"])?;
    if r.code != Some(0) {
        return Err(format!("--restore before the test: {r:?}"));
    }
    quiet_snapshot()
}

/// Starts a probe that holds the holding scenario; returns it and the host while it holds.
fn start_holding() -> Result<(Probe, Vec<String>), String> {
    let s = holding_scenario();
    let mut a = Probe::start(&["--hold", &s])?;
    a.wait_holding()?;
    let during = snapshot();
    if !during.iter().any(|l| l.starts_with("swap /dev/zram0")) {
        return Err(format!("the holding probe has no zram swap: {during:?}"));
    }
    Ok((a, during))
}

pub fn normal_end() -> TestResult {
    let before = baseline()?;
    // Overrides a release binary must not honour: neither journal nor helper may change.
    let bogus =
        std::env::temp_dir().join(format!("foliolab-kt-bogus-journal-{}", std::process::id()));
    let mut cmd = std::process::Command::new(RUN);
    cmd.arg(holding_scenario())
        .env("FOLIOLAB_PROBE_JOURNAL", &bogus)
        .env("FOLIOLAB_PROBE_HELPER", "/bin/false");
    let r = Probe::start_with(&mut cmd)?.wait();
    if r.code != Some(0) {
        return Err(format!("exit {r:?}"));
    }
    if bogus.exists() {
        return Err(format!(
            "FOLIOLAB_PROBE_JOURNAL was honoured: {} exists",
            bogus.display()
        ));
    }
    let after = quiet_snapshot()?;
    same("host after a normal end", &before, &after)?;
    no_helpers_left()?;
    Ok("knobs, swap, zram and journal as before; FOLIOLAB_PROBE_JOURNAL/HELPER ignored".into())
}

/// One signal to a holding probe: it restores and exits 128 + the signal.
fn signal_restores(sig: i32, before: &[String]) -> Result<(), String> {
    let (a, during) = start_holding()?;
    if during == before {
        return Err("the holding probe changed nothing: the test proves nothing".into());
    }
    let w = wait_lock();
    a.signal(sig);
    let r = a.wait_signalled();
    let _l = w.get()?;
    let name = foliolab_probe::sys::signal_name(sig);
    if r.signal.is_some() || r.code != Some(128 + sig) || !r.err.contains("host restored") {
        return Err(format!("{name}: {r:?}"));
    }
    same(&format!("host after {name}"), before, &snapshot())?;
    no_helpers_left()
}

pub fn every_signal() -> TestResult {
    let before = baseline()?;
    let sigs = [
        libc::SIGQUIT,
        libc::SIGHUP,
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGUSR1,
        libc::SIGXCPU,
        libc::SIGRTMIN() + 1,
        libc::SIGSEGV,
        libc::SIGABRT,
    ];
    for sig in sigs {
        signal_restores(sig, &before)?;
    }
    let names: Vec<String> = sigs
        .iter()
        .map(|s| foliolab_probe::sys::signal_name(*s))
        .collect();
    Ok(format!("restored after {}", names.join(", ")))
}

fn sigkill_then(next: &[&str]) -> Result<String, String> {
    let before = baseline()?;
    let (a, _) = start_holding()?;
    let w = wait_lock();
    a.signal(libc::SIGKILL);
    let _ = a.wait_signalled();
    let lock = w.get()?;
    no_helpers_left()?;
    let killed = snapshot();
    if killed == before {
        return Err("host already equal after SIGKILL: the test proves nothing".into());
    }
    drop(lock);
    let r = run(next)?;
    if r.code != Some(0) {
        return Err(format!("{next:?}: {r:?}"));
    }
    same(
        "host after SIGKILL and the next probe",
        &before,
        &quiet_snapshot()?,
    )?;
    Ok(format!(
        "killed state {} lines off, restored by {next:?}",
        killed.iter().filter(|l| !before.contains(l)).count()
    ))
}

pub fn sigkill_next_start() -> TestResult {
    let s = conformance("first-touch-4k.scn").display().to_string();
    sigkill_then(&[&s])
}

pub fn sigkill_restore() -> TestResult {
    sigkill_then(&["--restore"])
}

/// B waits for the lock while A holds the host; a signal to B must leave A's knobs, swap
/// and journal alone, and A must still restore everything at its end.
pub fn lock_wait_signal() -> TestResult {
    let before = baseline()?;
    let (mut a, during) = start_holding()?;
    for sig in [libc::SIGTERM, libc::SIGQUIT] {
        let s = conformance("first-touch-4k.scn").display().to_string();
        let mut b = Probe::start(&[&s])?;
        b.wait_for("waiting for", true, Duration::from_secs(30))?;
        b.signal(sig);
        let rb = b.wait_signalled();
        if rb.code != Some(128 + sig) || !rb.err.contains("nothing was changed") {
            return Err(format!("B after {sig}: {rb:?}"));
        }
        same("A's host after B's signal", &during, &snapshot())?;
    }
    let w = wait_lock();
    a.release();
    let ra = a.wait();
    let _l = w.get()?;
    if ra.code != Some(0) {
        return Err(format!("A: {ra:?}"));
    }
    same("host after A's end", &before, &snapshot())?;
    no_helpers_left()?;
    Ok("B's SIGTERM and SIGQUIT while waiting left A's knobs, swap and journal untouched".into())
}

/// zram0 held open by another process: the knobs are still restored, the exit status is
/// not 0, and the journal keeps zram (and only zram) until `--restore` can finish.
pub fn zram_busy() -> TestResult {
    let before = baseline()?;
    let (mut a, _) = start_holding()?;
    let busy = std::fs::File::open("/dev/zram0").map_err(|e| format!("open /dev/zram0: {e}"))?;
    let w = wait_lock();
    a.release();
    let ra = a.wait();
    let lock = w.get()?;
    let now = snapshot();
    drop(busy);
    if ra.code.unwrap_or(0) == 0 || !ra.err.contains("zram0") {
        return Err(format!("A with zram0 busy: {ra:?}"));
    }
    let journal: Vec<&String> = now.iter().filter(|l| l.starts_with("journal ")).collect();
    if journal.len() != 1 || !journal[0].contains("|zram zram0|") || journal[0].contains("knob ") {
        return Err(format!("the journal must keep zram only: {journal:?}"));
    }
    let thp = |v: &[String]| {
        v.iter()
            .filter(|l| l.starts_with("thp "))
            .cloned()
            .collect::<Vec<_>>()
    };
    same("knobs with zram0 busy", &thp(&before), &thp(&now))?;
    if now.iter().any(|l| l.starts_with("swap ")) {
        return Err(format!("swap still on: {now:?}"));
    }
    drop(lock);
    let r = run(&["--restore"])?;
    if r.code != Some(0) {
        return Err(format!("--restore once zram0 is free: {r:?}"));
    }
    same("host after --restore", &before, &quiet_snapshot()?)?;
    Ok(format!(
        "exit {:?}; knobs restored, journal kept zram only; --restore finished",
        ra.code
    ))
}
