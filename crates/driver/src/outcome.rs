//! The result of one checked expectation and the helpers that build readable
//! expected/observed texts (`0x3000: 2`, runs compressed as `0x0..0x3000: 1`).

use foliolab_types::PAGE_SIZE;

/// A checked expectation: whether it held, what was expected and what was observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub pass: bool,
    pub expected: String,
    pub observed: String,
}

impl Outcome {
    /// A single value compared with `==`.
    pub fn scalar(expected: impl ToString, observed: impl ToString) -> Outcome {
        let (expected, observed) = (expected.to_string(), observed.to_string());
        Outcome {
            pass: expected == observed,
            expected,
            observed,
        }
    }

    /// Per-item results `(offset, ok, observed)`: passes when every item is ok (and there is
    /// at least one). Observed lists every item on a pass, the failing ones on a failure.
    pub fn per_page(expected: impl ToString, items: Vec<(u64, bool, String)>) -> Outcome {
        let mut acc = PerPage::default();
        for (off, ok, text) in &items {
            acc.push(*off, *ok, text);
        }
        acc.finish(expected)
    }
}

/// Consecutive pages with the same text, as runs `(start, end, text)` (end exclusive).
#[derive(Clone, Debug, Default)]
struct Runs(Vec<(u64, u64, String)>);

impl Runs {
    fn push(&mut self, off: u64, text: &str) {
        match self.0.last_mut() {
            Some((_, end, t)) if *end == off && t == text => *end = off.saturating_add(PAGE_SIZE),
            _ => self
                .0
                .push((off, off.saturating_add(PAGE_SIZE), text.to_string())),
        }
    }

    fn render(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(start, end, text)| {
                if end.saturating_sub(*start) <= PAGE_SIZE {
                    format!("{start:#x}: {text}")
                } else {
                    format!("{start:#x}..{end:#x}: {text}")
                }
            })
            .collect();
        parts.join(", ")
    }
}

/// A per-page outcome built one page at a time: it keeps runs of equal texts, never a text
/// per page, so checking a huge range costs memory in proportion to what differs.
#[derive(Clone, Debug, Default)]
pub struct PerPage {
    items: u64,
    failed: bool,
    /// Every item while none failed (what a pass shows).
    all: Runs,
    failing: Runs,
}

impl PerPage {
    pub fn push(&mut self, off: u64, ok: bool, text: &str) {
        self.items += 1;
        if !ok {
            self.failed = true;
            self.all = Runs::default();
            self.failing.push(off, text);
        } else if !self.failed {
            self.all.push(off, text);
        }
    }

    pub fn finish(self, expected: impl ToString) -> Outcome {
        let pass = self.items > 0 && !self.failed;
        let shown = if pass { &self.all } else { &self.failing };
        let observed = if shown.0.is_empty() {
            "no pages".to_string()
        } else {
            shown.render()
        };
        Outcome {
            pass,
            expected: expected.to_string(),
            observed,
        }
    }
}

/// `0x0..0x3000: 1, 0x3000: 2`: consecutive pages with the same text form one run (end
/// exclusive).
pub fn compress(items: &[(u64, String)]) -> String {
    let mut runs = Runs::default();
    for (off, text) in items {
        runs.push(*off, text);
    }
    runs.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs() {
        let items: Vec<(u64, String)> = vec![
            (0, "1".into()),
            (0x1000, "1".into()),
            (0x2000, "2".into()),
            (0x5000, "2".into()),
        ];
        assert_eq!(compress(&items), "0x0..0x2000: 1, 0x2000: 2, 0x5000: 2");
    }

    #[test]
    fn failing_pages_only() {
        let items = vec![(0, true, "2".into()), (0x3000, false, "1".into())];
        let o = Outcome::per_page(2, items);
        assert!(!o.pass);
        assert_eq!(o.observed, "0x3000: 1");
    }
}
