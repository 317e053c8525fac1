//! Per-page expectations over `Runner::pages_batch` observations (spec 3.3), checked one
//! page at a time.

use crate::obs::{PageObs, ZeroKind};
use crate::outcome::{Outcome, PerPage};
use foliolab_scenario::{FieldValue, FolioField, PageField, PageState, ProcOp};
use std::collections::BTreeSet;

/// The state a page is in, zero pages counted as `zeropage`.
pub fn state_of(p: &PageObs) -> PageState {
    if p.zero.is_some() {
        PageState::Zeropage
    } else {
        p.state
    }
}

/// Errors with the page's state name unless it is present (or a zero page when allowed).
fn needs_page(p: &PageObs, allow_zero: bool) -> Result<(), String> {
    match state_of(p) {
        PageState::Present => Ok(()),
        PageState::Zeropage if allow_zero => Ok(()),
        other => Err(other.name().to_string()),
    }
}

/// What a per-page expectation compares.
#[derive(Clone, Debug)]
enum Check {
    State(PageState),
    Mapcount(u64),
    Order(u8),
    Exclusive(bool),
    Pmd(bool),
    /// Every folio backing the range, each checked once (at its first page).
    Folio(FolioField, FieldValue),
    Page(PageField, FieldValue),
}

/// A per-page expectation checked one page at a time (spec 3.3), so a range of any size is
/// checked without holding its observations.
#[derive(Clone, Debug)]
pub struct PageCheck {
    check: Check,
    expected: String,
    /// Folios already checked (`expect folio`).
    seen: BTreeSet<u64>,
    acc: PerPage,
}

fn word(b: bool, yes: &'static str, no: &'static str) -> &'static str {
    if b {
        yes
    } else {
        no
    }
}

impl PageCheck {
    /// The check of a per-page expectation; `None` for any other statement.
    pub fn new(op: &ProcOp) -> Option<PageCheck> {
        let (check, expected) = match op {
            ProcOp::ExpectState { state, .. } => (Check::State(*state), state.name().to_string()),
            ProcOp::ExpectMapcount { mapcount, .. } => {
                (Check::Mapcount(*mapcount), mapcount.to_string())
            }
            ProcOp::ExpectOrder { order, .. } => (Check::Order(*order), order.to_string()),
            ProcOp::ExpectExclusive { exclusive, .. } => (
                Check::Exclusive(*exclusive),
                word(*exclusive, "exclusive", "shared").into(),
            ),
            ProcOp::ExpectPmd { pmd, .. } => (Check::Pmd(*pmd), word(*pmd, "pmd", "pte").into()),
            ProcOp::ExpectFolio { field, value, .. } => {
                (Check::Folio(*field, value.clone()), field_text(value))
            }
            ProcOp::ExpectPage { field, value, .. } => {
                (Check::Page(*field, value.clone()), field_text(value))
            }
            _ => return None,
        };
        Some(PageCheck {
            check,
            expected,
            seen: BTreeSet::new(),
            acc: PerPage::default(),
        })
    }

    /// Checks the next page (pages come in address order).
    pub fn push(&mut self, off: u64, p: &PageObs) {
        let allow_zero = match &self.check {
            Check::State(want) => {
                let s = state_of(p);
                self.acc.push(off, s == *want, s.name());
                return;
            }
            Check::Folio(..) => {
                if p.folio.is_some_and(|f| !self.seen.insert(f)) {
                    return;
                }
                false
            }
            Check::Page(..) => false,
            _ => true,
        };
        match needs_page(p, allow_zero) {
            Ok(()) => {
                let (ok, text) = self.judge(p);
                self.acc.push(off, ok, &text);
            }
            Err(state) => self.acc.push(off, false, &state),
        }
    }

    pub fn finish(self) -> Outcome {
        self.acc.finish(self.expected)
    }

    /// (ok, observed text) of a page that has what the check needs.
    fn judge(&self, p: &PageObs) -> (bool, String) {
        match &self.check {
            Check::State(_) => (true, String::new()),
            Check::Mapcount(want) => {
                let n = if p.zero.is_some() {
                    Some(0)
                } else {
                    p.mapcount
                };
                (n == Some(*want), opt(n))
            }
            Check::Order(want) => {
                let o = match p.zero {
                    Some(ZeroKind::Huge) => Some(9),
                    Some(ZeroKind::Small) => Some(0),
                    None => p.order,
                };
                (o == Some(*want), opt(o))
            }
            // pagemap bit 56 is defined for zero-page mappings too (always clear).
            Check::Exclusive(want) => (
                p.exclusive == Some(*want),
                p.exclusive
                    .map_or("?", |b| word(b, "exclusive", "shared"))
                    .into(),
            ),
            // PAGEMAP_SCAN reports PAGE_IS_HUGE for the huge zero folio's PMD as well.
            Check::Pmd(want) => (
                p.pmd == Some(*want),
                p.pmd.map_or("?", |b| word(b, "pmd", "pte")).into(),
            ),
            Check::Folio(field, want) => model_value(
                p.model
                    .as_ref()
                    .and_then(|m| crate::model_fields::folio(&m.folio, *field)),
                want,
            ),
            Check::Page(field, want) => model_value(
                p.model
                    .as_ref()
                    .and_then(|m| crate::model_fields::page(m, *field)),
                want,
            ),
        }
    }
}

fn model_value(got: Option<FieldValue>, want: &FieldValue) -> (bool, String) {
    (
        got.as_ref() == Some(want),
        got.map_or("not kept".into(), |v| field_text(&v)),
    )
}

/// Checks a whole list of observations (for runners' own tests and small ranges).
pub fn check_all(op: &ProcOp, pages: &[(u64, PageObs)]) -> Option<Outcome> {
    let mut c = PageCheck::new(op)?;
    for (off, p) in pages {
        c.push(*off, p);
    }
    Some(c.finish())
}

/// A field value as the scenario writes it.
pub fn field_text(v: &FieldValue) -> String {
    match v {
        FieldValue::Int(n) => n.to_string(),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::Slot { proc, count } => format!("{proc}:{count}"),
        FieldValue::NoSlot => "none".into(),
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or("?".into(), |v| v.to_string())
}
