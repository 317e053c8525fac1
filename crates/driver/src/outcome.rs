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
        let pass = !items.is_empty() && items.iter().all(|(_, ok, _)| *ok);
        let shown: Vec<(u64, String)> = items
            .into_iter()
            .filter(|(_, ok, _)| pass || !ok)
            .map(|(o, _, s)| (o, s))
            .collect();
        let observed = if shown.is_empty() {
            "no pages".to_string()
        } else {
            compress(&shown)
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
    let mut runs: Vec<(u64, u64, &str)> = Vec::new();
    for (off, text) in items {
        match runs.last_mut() {
            Some((_, end, t)) if *end == *off && *t == text.as_str() => {
                *end = off.saturating_add(PAGE_SIZE)
            }
            _ => runs.push((*off, off.saturating_add(PAGE_SIZE), text.as_str())),
        }
    }
    let parts: Vec<String> = runs
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
