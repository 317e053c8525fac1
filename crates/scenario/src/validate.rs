//! Static checks (names, statement order, sizes, ranges) with positions; nothing runs.

use crate::ast::*;
use crate::counters::counter_class;
use crate::error::ScenarioError;
use crate::print::{print_range, print_stmt};
use foliolab_types::format_size_bytes as size;
use std::collections::{BTreeMap, BTreeSet};

pub(crate) const PAGE: u64 = foliolab_types::PAGE_SIZE;

/// Checks a parsed scenario without running it. The first problem found is returned.
pub fn validate(s: &Scenario) -> Result<(), ScenarioError> {
    let mut c = Checker {
        path: &s.path,
        ..Checker::default()
    };
    for st in s.statements() {
        c.stmt(st)?;
    }
    if !c.started {
        let pos = Pos { line: 1, column: 1 };
        return Err(c.err(pos, None, "a scenario starts with `scenario 1`"));
    }
    Ok(())
}

#[derive(Default)]
pub(crate) struct Checker<'a> {
    pub path: &'a str,
    pub started: bool,
    /// The format version of `scenario N` (1 or 2).
    pub version: u32,
    pub spawned: bool,
    pub once: BTreeSet<&'static str>,
    pub files: BTreeSet<String>,
    pub procs: BTreeMap<String, ProcInfo>,
    pub held: BTreeMap<String, Held>,
    pub snapshots: BTreeSet<String>,
}

#[derive(Clone, Default)]
pub(crate) struct ProcInfo {
    pub alive: bool,
    /// Every region name the process ever defined (or inherited), with its size.
    pub regions: BTreeMap<String, u64>,
    /// Which of `regions` are spaces (version 2).
    pub spaces: BTreeSet<String>,
}

pub(crate) struct Held {
    pub proc: String,
    pub pipe: bool,
    pub released: bool,
}

impl Checker<'_> {
    pub fn err(&self, pos: Pos, token: Option<&str>, msg: impl Into<String>) -> ScenarioError {
        ScenarioError {
            path: self.path.to_string(),
            pos,
            token: token.map(str::to_string),
            message: msg.into(),
        }
    }

    fn stmt(&mut self, st: &Stmt) -> Result<(), ScenarioError> {
        if !self.started {
            return self.first(st);
        }
        let pos = st.pos;
        match &st.kind {
            StmtKind::Scenario { .. } => Err(self.err(
                pos,
                Some("scenario"),
                "`scenario` may only be the first statement",
            )),
            StmtKind::Schemes { .. } => self.setup_once(pos, "schemes"),
            StmtKind::Thp { settings } => {
                self.setup_once(pos, "thp")?;
                self.thp_keys_unique(pos, settings)
            }
            StmtKind::Swap { size_bytes } => {
                self.setup_once(pos, "swap")?;
                self.page_size(pos, *size_bytes, "swap size")
            }
            StmtKind::File { file, size_bytes } => {
                self.before_spawn(pos, "file")?;
                self.page_size(pos, *size_bytes, "file size")?;
                let new = self.files.insert(file.clone());
                self.fresh(pos, new, file, "file")
            }
            StmtKind::Spawn { proc } => {
                self.define_proc(
                    pos,
                    proc,
                    ProcInfo {
                        alive: true,
                        ..ProcInfo::default()
                    },
                )?;
                self.spawned = true;
                Ok(())
            }
            StmtKind::Shrink | StmtKind::Khugepaged | StmtKind::ObserveStats => Ok(()),
            StmtKind::ExpectStat { counter, .. } => match counter_class(counter) {
                Some(_) => Ok(()),
                None => Err(self.err(pos, Some(counter), "unknown counter (see spec 3.6)")),
            },
            StmtKind::Proc { proc, op } => self.proc_stmt(pos, proc, op),
        }
    }

    fn first(&mut self, st: &Stmt) -> Result<(), ScenarioError> {
        match st.kind {
            StmtKind::Scenario {
                version: v @ (1 | 2),
            } => {
                self.started = true;
                self.version = v;
                Ok(())
            }
            StmtKind::Scenario { version } => Err(self.err(
                st.pos,
                Some(&version.to_string()),
                "unsupported format version (expected 1 or 2)",
            )),
            _ => {
                let text = print_stmt(st);
                let word = text.split(' ').next().unwrap_or_default();
                Err(self.err(
                    st.pos,
                    Some(word),
                    "expected `scenario 1` as the first statement",
                ))
            }
        }
    }

    fn setup_once(&mut self, pos: Pos, word: &'static str) -> Result<(), ScenarioError> {
        if !self.once.insert(word) {
            return Err(self.err(pos, Some(word), format!("`{word}` may appear only once")));
        }
        self.before_spawn(pos, word)
    }

    fn before_spawn(&self, pos: Pos, word: &str) -> Result<(), ScenarioError> {
        if self.spawned {
            let why = format!("`{word}` must come before the first `spawn`");
            return Err(self.err(pos, Some(word), why));
        }
        Ok(())
    }

    fn thp_keys_unique(&self, pos: Pos, settings: &[ThpSetting]) -> Result<(), ScenarioError> {
        let mut seen = BTreeSet::new();
        for s in settings {
            if !seen.insert(s.key) {
                let name = crate::parse_thp::thp_key_name(s.key);
                return Err(self.err(pos, Some(&name), format!("THP key `{name}` is set twice")));
            }
        }
        Ok(())
    }

    /// A non-zero multiple of 4K.
    pub fn page_size(&self, pos: Pos, bytes: u64, what: &str) -> Result<(), ScenarioError> {
        if bytes == 0 || !bytes.is_multiple_of(PAGE) {
            let why = format!("{what} must be a non-zero multiple of 4K");
            return Err(self.err(pos, Some(&size(bytes)), why));
        }
        Ok(())
    }

    /// Errors unless `new` (the name was not defined before).
    pub fn fresh(&self, pos: Pos, new: bool, name: &str, what: &str) -> Result<(), ScenarioError> {
        if new {
            return Ok(());
        }
        let why = format!("{what} name `{name}` is already defined (names are never reused)");
        Err(self.err(pos, Some(name), why))
    }

    pub fn define_proc(
        &mut self,
        pos: Pos,
        name: &str,
        info: ProcInfo,
    ) -> Result<(), ScenarioError> {
        let new = !self.procs.contains_key(name);
        self.fresh(pos, new, name, "process")?;
        self.procs.insert(name.to_string(), info);
        Ok(())
    }

    /// The bounds `[start, end)` of a range of a region of `proc`, checked.
    pub fn range(&self, proc: &str, r: &Range) -> Result<(u64, u64), ScenarioError> {
        let text = print_range(r);
        let region = self.procs.get(proc).and_then(|p| p.regions.get(&r.region));
        let Some(&region_size) = region else {
            let why = format!("unknown region `{}` of process `{proc}`", r.region);
            return Err(self.err(r.pos, Some(&r.region), why));
        };
        let bounds = r.form.checked_resolve(region_size);
        let Some((start, end)) = bounds else {
            return Err(self.err(r.pos, Some(&text), "range does not fit in 64 bits"));
        };
        if start % PAGE != 0 || end % PAGE != 0 {
            return Err(self.err(r.pos, Some(&text), "range offsets must be multiples of 4K"));
        }
        if start >= end {
            return Err(self.err(r.pos, Some(&text), "empty range"));
        }
        if end > region_size {
            let why = format!(
                "range is outside region `{}` (size {})",
                r.region,
                size(region_size)
            );
            return Err(self.err(r.pos, Some(&text), why));
        }
        Ok((start, end))
    }

    /// A power of two from 4K to 512M.
    pub fn alignment(&self, pos: Pos, align: u64) -> Result<(), ScenarioError> {
        if !align.is_power_of_two() || !(PAGE..=512 << 20).contains(&align) {
            let why = "alignment must be a power of two from 4K to 512M";
            return Err(self.err(pos, Some(&size(align)), why));
        }
        Ok(())
    }
}
