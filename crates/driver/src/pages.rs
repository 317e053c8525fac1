//! Per-page expectations over `Runner::pages` observations (spec 3.3).

use crate::obs::{PageObs, ZeroKind};
use crate::outcome::Outcome;
use foliolab_scenario::{FieldValue, FolioField, PageField, PageState};
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

/// Applies `f` to every page that satisfies `needs_page`; other pages fail with their state.
fn each(
    pages: &[(u64, PageObs)],
    allow_zero: bool,
    f: impl Fn(&PageObs) -> (bool, String),
) -> Vec<(u64, bool, String)> {
    pages
        .iter()
        .map(|(off, p)| match needs_page(p, allow_zero) {
            Ok(()) => {
                let (ok, text) = f(p);
                (*off, ok, text)
            }
            Err(state) => (*off, false, state),
        })
        .collect()
}

pub fn state(pages: &[(u64, PageObs)], want: PageState) -> Outcome {
    let items = pages
        .iter()
        .map(|(off, p)| (*off, state_of(p) == want, state_of(p).name().to_string()))
        .collect();
    Outcome::per_page(want.name(), items)
}

pub fn mapcount(pages: &[(u64, PageObs)], want: u64) -> Outcome {
    let items = each(pages, true, |p| {
        let n = if p.zero.is_some() {
            Some(0)
        } else {
            p.mapcount
        };
        (n == Some(want), opt(n))
    });
    Outcome::per_page(want, items)
}

pub fn order(pages: &[(u64, PageObs)], want: u8) -> Outcome {
    let items = each(pages, true, |p| {
        let o = match p.zero {
            Some(ZeroKind::Huge) => Some(9),
            Some(ZeroKind::Small) => Some(0),
            None => p.order,
        };
        (o == Some(want), opt(o))
    });
    Outcome::per_page(want, items)
}

pub fn exclusive(pages: &[(u64, PageObs)], want: bool) -> Outcome {
    let word = |b: bool| if b { "exclusive" } else { "shared" };
    // pagemap bit 56 is defined for zero-page mappings too (always clear).
    let items = each(pages, true, |p| {
        (
            p.exclusive == Some(want),
            p.exclusive.map_or("?", word).into(),
        )
    });
    Outcome::per_page(word(want), items)
}

pub fn pmd(pages: &[(u64, PageObs)], want: bool) -> Outcome {
    let word = |b: bool| if b { "pmd" } else { "pte" };
    // PAGEMAP_SCAN reports PAGE_IS_HUGE for the huge zero folio's PMD as well.
    let items = each(pages, true, |p| {
        (p.pmd == Some(want), p.pmd.map_or("?", word).into())
    });
    Outcome::per_page(word(want), items)
}

/// `expect folio`: every folio backing the range, each checked once (at its first page).
pub fn folio_field(pages: &[(u64, PageObs)], field: FolioField, want: &FieldValue) -> Outcome {
    let mut seen = BTreeSet::new();
    let firsts: Vec<(u64, PageObs)> = pages
        .iter()
        .filter(|(_, p)| p.folio.is_none_or(|f| seen.insert(f)))
        .cloned()
        .collect();
    let items = each(&firsts, false, |p| {
        let got = p
            .model
            .as_ref()
            .and_then(|m| crate::model_fields::folio(&m.folio, field));
        (
            got.as_ref() == Some(want),
            got.map_or("not kept".into(), |v| field_text(&v)),
        )
    });
    Outcome::per_page(field_text(want), items)
}

/// `expect page`: every page of the range.
pub fn page_field(pages: &[(u64, PageObs)], field: PageField, want: &FieldValue) -> Outcome {
    let items = each(pages, false, |p| {
        let got = p
            .model
            .as_ref()
            .and_then(|m| crate::model_fields::page(m, field));
        (
            got.as_ref() == Some(want),
            got.map_or("not kept".into(), |v| field_text(&v)),
        )
    });
    Outcome::per_page(field_text(want), items)
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
