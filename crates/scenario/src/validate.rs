//! Static checks (names, statement order, sizes, ranges) with positions; nothing runs.

use crate::ast::*;
use crate::counters::counter_class;
use crate::error::ScenarioError;
use crate::limits::{limit_text, MAX_FILE_BYTES, MAX_PAGE_WALK_BYTES, MAX_SWAP_BYTES};
use crate::num::parse_u64;
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
        c.stmt_pos = st.pos;
        c.tokens = &st.tokens;
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
    /// The statement being checked: its position and its tokens as written.
    pub stmt_pos: Pos,
    pub tokens: &'a [Token],
    /// Address space the regions defined so far need (see [`crate::limits`]).
    pub address_space_bytes: u64,
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

impl<'a> Checker<'a> {
    /// An error at `pos`. An error about the statement as a whole that names a `token`
    /// points at that token as written, when the statement has it.
    pub fn err(&self, pos: Pos, token: Option<&str>, msg: impl Into<String>) -> ScenarioError {
        let located = token
            .filter(|_| pos == self.stmt_pos)
            .and_then(|t| self.locate(t));
        match located {
            Some((column, written)) => {
                let pos = Pos {
                    line: pos.line,
                    column,
                };
                ScenarioError::new(self.path, pos, Some(written), msg)
            }
            None => ScenarioError::new(self.path, pos, token, msg),
        }
    }

    /// The column and text of the token of the current statement that `text` (a name or
    /// a value as the validator prints it) stands for: the same text, the value of a
    /// `KEY=VALUE`, the same number, or the process of a `PROC:...` token.
    fn locate(&self, text: &str) -> Option<(u32, &'a str)> {
        let number = parse_u64(text).ok();
        let value_of = |t: &'a str| t.split_once('=').map(|(k, v)| (k.chars().count() + 1, v));
        let same_number = |t: &str| number.is_some() && parse_u64(t).ok() == number;
        let args = self.tokens.get(1..).unwrap_or_default();
        if let Some(t) = args.iter().find(|t| t.text == text || same_number(&t.text)) {
            return Some((t.column, &t.text));
        }
        for t in args {
            if let Some((skip, v)) = value_of(&t.text) {
                if v == text || same_number(v) {
                    return Some((t.column + skip as u32, v));
                }
            }
        }
        let proc_of = |t: &'a str| t.split_once(':').map(|(p, _)| p).filter(|p| *p == text);
        self.tokens
            .iter()
            .find_map(|t| proc_of(&t.text).map(|p| (t.column, p)))
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
            StmtKind::Schemes { names } => {
                self.setup_once(pos, "schemes")?;
                self.known_schemes(pos, names)
            }
            StmtKind::Thp { settings } => {
                self.setup_once(pos, "thp")?;
                self.thp_keys_unique(pos, settings)
            }
            StmtKind::Swap { size_bytes } => {
                self.setup_once(pos, "swap")?;
                self.page_size(pos, *size_bytes, "swap size")?;
                self.at_most(pos, *size_bytes, MAX_SWAP_BYTES, "a swap device")
            }
            StmtKind::File { file, size_bytes } => {
                self.before_spawn(pos, "file")?;
                self.page_size(pos, *size_bytes, "file size")?;
                self.at_most(pos, *size_bytes, MAX_FILE_BYTES, "a file")?;
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
                None => {
                    let names = crate::counters::all_counters();
                    let words = names.iter().map(|(n, _)| n.as_str());
                    let e = self.err(pos, Some(counter), "unknown counter (see spec 3.6)");
                    Err(match crate::suggest::hint(counter, words) {
                        Some(h) => e.with_help(h),
                        None => e,
                    })
                }
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

    /// Every name of `schemes` is a known design (a typo would skip every expectation).
    fn known_schemes(&self, pos: Pos, names: &[String]) -> Result<(), ScenarioError> {
        let known = crate::tables::SCHEME_NAMES;
        let Some(bad) = names.iter().find(|n| !known.contains(&n.as_str())) else {
            return Ok(());
        };
        let e = self.err(pos, Some(bad), format!("unknown scheme `{bad}`"));
        let e = match crate::suggest::hint(bad, known.iter().copied()) {
            Some(h) => e.with_help(h),
            None => e,
        };
        Err(e.with_help(format!("schemes: {}", known.join(", "))))
    }

    /// `bytes` (of `what`) within `limit_bytes`.
    pub fn at_most(
        &self,
        pos: Pos,
        bytes: u64,
        limit_bytes: u64,
        what: &str,
    ) -> Result<(), ScenarioError> {
        if bytes <= limit_bytes {
            return Ok(());
        }
        let why = format!("{what} of {} is over the limit", size(bytes));
        Err(self
            .err(pos, Some(&size(bytes)), why)
            .with_help(limit_text(limit_bytes)))
    }

    /// A range that a statement walks page by page is within [`MAX_PAGE_WALK_BYTES`].
    pub fn page_walk(&self, r: &Range, start: u64, end: u64) -> Result<(), ScenarioError> {
        let len = end - start;
        if len <= MAX_PAGE_WALK_BYTES {
            return Ok(());
        }
        let why = format!(
            "this statement visits every page of its range, and {} is over the limit",
            size(len)
        );
        let e = self.err(r.pos, Some(&print_range(r)), why);
        Err(e
            .with_help(limit_text(MAX_PAGE_WALK_BYTES))
            .with_help("split the statement into several ranges"))
    }

    /// A non-zero multiple of 4K.
    pub fn page_size(&self, pos: Pos, bytes: u64, what: &str) -> Result<(), ScenarioError> {
        if bytes == 0 || !bytes.is_multiple_of(PAGE) {
            let why = format!("{what} must be a non-zero multiple of 4K");
            let e = self.err(pos, Some(&size(bytes)), why);
            let below = bytes / PAGE * PAGE;
            return Err(match below.checked_add(PAGE) {
                Some(above) if below > 0 => e.with_help(format!(
                    "the nearest multiples of 4K are {} and {}",
                    size(below),
                    size(above)
                )),
                _ => e.with_help("for example 4K, 64K, 2M (sizes take the suffixes K, M, G)"),
            });
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
            return Err(self.unknown_region(r.pos, proc, &r.region));
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

    /// `e` with "did you mean" for `word` among `names`, when one is close.
    pub fn hint<'n>(
        &self,
        e: ScenarioError,
        word: &str,
        names: impl Iterator<Item = &'n String>,
    ) -> ScenarioError {
        match crate::suggest::hint(word, names.map(String::as_str)) {
            Some(h) => e.with_help(h),
            None => e,
        }
    }

    /// `unknown region`, with the closest region of the process as "did you mean".
    pub fn unknown_region(&self, pos: Pos, proc: &str, region: &str) -> ScenarioError {
        let why = format!("unknown region `{region}` of process `{proc}`");
        let e = self.err(pos, Some(region), why);
        let regions = self.procs.get(proc).map(|p| &p.regions);
        let words = regions
            .into_iter()
            .flat_map(|r| r.keys().map(String::as_str));
        match crate::suggest::hint(region, words) {
            Some(h) => e.with_help(h),
            None => e,
        }
    }

    /// A power of two from 4K to 512M.
    pub fn alignment(&self, pos: Pos, align: u64) -> Result<(), ScenarioError> {
        if !align.is_power_of_two() || !(PAGE..=512 << 20).contains(&align) {
            let why = "alignment must be a power of two from 4K to 512M";
            let e = self.err(pos, Some(&size(align)), why);
            return Err(e.with_help("for example align=4K, align=64K, align=2M"));
        }
        Ok(())
    }
}
