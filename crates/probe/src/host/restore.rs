//! Restoring the host from the journal: every item is tried (each knob, then zram0's swap
//! and reset), each failure is reported, and the journal is rewritten to hold exactly what
//! failed (removed when nothing did), so that `foliolab probe --restore` or the next probe
//! can finish the job.

use crate::error::{ProbeError, Result};
use crate::host::journal::{journal_path, Journal, JOURNAL_DIR};
use crate::host::{zram, THP_DIR};
use crate::sys;
use std::path::Path;

/// What a restore did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// `knob: current -> original` for every knob written back; `zram0: ...` when its swap
    /// was switched off and reset.
    pub restored: Vec<String>,
    /// One line per item that could not be restored (kept in the journal).
    pub failed: Vec<String>,
    /// There was no journal: nothing to do.
    pub nothing: bool,
}

impl RestoreReport {
    /// The failures, and where the journal keeps them, as one message.
    pub fn failure_text(&self) -> String {
        format!(
            "host not fully restored: {}; {} keeps what failed (fix the cause, then `foliolab probe --restore`)",
            self.failed.join("; "),
            journal_path().display()
        )
    }

    /// `Ok` when every item was restored, else the failures as a typed error.
    pub fn into_result(self) -> Result<RestoreReport> {
        if self.failed.is_empty() {
            Ok(self)
        } else {
            Err(ProbeError::Restore(self.failure_text()))
        }
    }
}

/// The host operations a restore needs (the real host, or a fake in tests).
pub(crate) trait HostOps {
    fn read_knob(&mut self, knob: &str) -> Result<String>;
    fn write_knob(&mut self, knob: &str, value: &str) -> Result<()>;
    /// Switches zram0's swap off and resets it; true when there was something to undo.
    fn zram_off(&mut self) -> Result<bool>;
}

/// This machine.
pub(crate) struct RealHost;

impl HostOps for RealHost {
    fn read_knob(&mut self, knob: &str) -> Result<String> {
        sys::read_knob(Path::new(THP_DIR).join(knob))
    }
    fn write_knob(&mut self, knob: &str, value: &str) -> Result<()> {
        sys::write_knob(Path::new(THP_DIR).join(knob), value)
    }
    fn zram_off(&mut self) -> Result<bool> {
        zram::off()
    }
}

/// Tries every item of `j`; returns the report and what is left to restore.
pub(crate) fn restore_items(ops: &mut dyn HostOps, j: &Journal) -> (RestoreReport, Journal) {
    let mut rep = RestoreReport::default();
    let mut left = Journal {
        pid: std::process::id(),
        ..Journal::default()
    };
    for (k, v) in &j.knobs {
        let done = ops.read_knob(k).and_then(|cur| {
            if cur == *v {
                Ok(None)
            } else {
                ops.write_knob(k, v).map(|_| Some(cur))
            }
        });
        match done {
            Ok(None) => {}
            Ok(Some(cur)) => rep.restored.push(format!("{k}: {cur} -> {v}")),
            Err(e) => {
                rep.failed.push(format!("knob {k} (to {v}): {e}"));
                left.knobs.push((k.clone(), v.clone()));
            }
        }
    }
    if j.zram {
        match ops.zram_off() {
            Ok(true) => rep.restored.push("zram0: swap off, reset".into()),
            Ok(false) => {}
            Err(e) => {
                rep.failed.push(format!("zram0: {e}"));
                left.zram = true;
            }
        }
    }
    (rep, left)
}

/// Restores from the journal in `dir`; the journal then holds exactly what failed. `Err`
/// only when the journal itself cannot be read or rewritten. The caller holds the lock.
pub(crate) fn restore_in(ops: &mut dyn HostOps, dir: &Path) -> Result<RestoreReport> {
    let Some(j) = Journal::load_from(dir)? else {
        return Ok(RestoreReport {
            nothing: true,
            ..Default::default()
        });
    };
    let (rep, left) = restore_items(ops, &j);
    if left.is_empty() {
        Journal::remove_in(dir)?;
    } else {
        left.store_in(dir)?;
    }
    Ok(rep)
}

/// Restores this host from its journal (the caller holds the lock).
pub(crate) fn restore_journal() -> Result<RestoreReport> {
    restore_in(&mut RealHost, Path::new(JOURNAL_DIR))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Knobs in a map; `broken` knobs fail to write; zram busy or not.
    struct Fake {
        knobs: BTreeMap<String, String>,
        broken: Vec<String>,
        zram_on: bool,
        zram_busy: bool,
    }

    impl HostOps for Fake {
        fn read_knob(&mut self, knob: &str) -> Result<String> {
            self.knobs
                .get(knob)
                .cloned()
                .ok_or_else(|| ProbeError::Host(format!("no knob {knob}")))
        }
        fn write_knob(&mut self, knob: &str, value: &str) -> Result<()> {
            if self.broken.iter().any(|b| b == knob) {
                return Err(ProbeError::Host("write refused".into()));
            }
            self.knobs.insert(knob.into(), value.into());
            Ok(())
        }
        fn zram_off(&mut self) -> Result<bool> {
            if self.zram_busy {
                return Err(ProbeError::Host("reset: busy".into()));
            }
            Ok(std::mem::replace(&mut self.zram_on, false))
        }
    }

    fn journal() -> Journal {
        Journal {
            pid: 1,
            knobs: vec![
                ("enabled".into(), "madvise".into()),
                ("defrag".into(), "madvise".into()),
                ("khugepaged/scan_sleep_millisecs".into(), "10000".into()),
            ],
            zram: true,
        }
    }

    fn fake(busy: bool, broken: &[&str]) -> Fake {
        let knobs = [
            ("enabled", "never"),
            ("defrag", "always"),
            ("khugepaged/scan_sleep_millisecs", "3600000"),
        ];
        Fake {
            knobs: knobs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            broken: broken.iter().map(|s| s.to_string()).collect(),
            zram_on: true,
            zram_busy: busy,
        }
    }

    #[test]
    fn zram_busy_still_restores_every_knob_and_keeps_only_zram() {
        let mut f = fake(true, &[]);
        let (rep, left) = restore_items(&mut f, &journal());
        assert_eq!(f.knobs["enabled"], "madvise");
        assert_eq!(f.knobs["defrag"], "madvise");
        assert_eq!(f.knobs["khugepaged/scan_sleep_millisecs"], "10000");
        assert_eq!(rep.restored.len(), 3);
        assert_eq!(rep.failed.len(), 1);
        assert!(rep.failed[0].starts_with("zram0: "));
        assert!(left.knobs.is_empty() && left.zram);
        assert!(rep.into_result().is_err());
    }

    #[test]
    fn a_failing_knob_does_not_stop_the_others_or_zram() {
        let mut f = fake(false, &["defrag"]);
        let (rep, left) = restore_items(&mut f, &journal());
        assert_eq!(f.knobs["enabled"], "madvise");
        assert_eq!(f.knobs["khugepaged/scan_sleep_millisecs"], "10000");
        assert!(!f.zram_on);
        assert_eq!(
            left.knobs,
            vec![("defrag".to_string(), "madvise".to_string())]
        );
        assert!(!left.zram);
        assert_eq!(rep.failed.len(), 1);
    }

    #[test]
    fn the_journal_keeps_exactly_what_failed() {
        let dir = std::env::temp_dir().join(format!("foliolab-restore-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        journal().store_in(&dir).expect("store");
        let mut f = fake(true, &[]);
        let rep = restore_in(&mut f, &dir).expect("restore");
        assert_eq!(rep.failed.len(), 1);
        let kept = Journal::load_from(&dir).expect("load").expect("kept");
        assert!(kept.knobs.is_empty() && kept.zram);
        f.zram_busy = false;
        let rep = restore_in(&mut f, &dir).expect("restore");
        assert!(rep.failed.is_empty(), "{rep:?}");
        assert_eq!(Journal::load_from(&dir).expect("load"), None);
        let rep = restore_in(&mut f, &dir).expect("restore");
        assert!(rep.nothing);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
