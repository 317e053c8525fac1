//! "Did you mean": the closest known word to a misspelt one, by edit distance.

/// The candidate closest to `word`, if it is close enough to be a likely typo: an edit
/// distance (insertions, deletions, substitutions and swaps of neighbours) of at most a
/// third of the longer word's length, and at least 1. Ties go to the earlier candidate.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    if word.len() > 64 {
        return None;
    }
    let len = word.chars().count();
    let mut best: Option<((usize, usize), &str)> = None;
    for c in candidates {
        if c == word {
            continue;
        }
        let clen = c.chars().count();
        let limit = (len.max(clen) / 3).max(1);
        let d = distance(&word.to_lowercase(), &c.to_lowercase());
        // Among equally distant words, the one of the same length (a swap, not a cut).
        let key = (d, len.abs_diff(clen));
        if d <= limit && best.is_none_or(|(bk, _)| key < bk) {
            best = Some((key, c));
        }
    }
    best.map(|(_, c)| c)
}

/// `did you mean `X`?` for [`did_you_mean`]'s answer.
pub(crate) fn hint<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    did_you_mean(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// Optimal string alignment distance (Damerau-Levenshtein without repeated edits).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        prev2 = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_word() {
        let words = ["map", "unmap", "protect", "advise", "move"];
        assert_eq!(did_you_mean("mmap", words), Some("map"));
        assert_eq!(did_you_mean("protcet", words), Some("protect"));
        assert_eq!(did_you_mean("MAP", words), Some("map"));
        assert_eq!(did_you_mean("2m", ["2M", "64K"]), Some("2M"));
        assert_eq!(did_you_mean("2m.spilt", ["2M.split"]), Some("2M.split"));
        assert_eq!(did_you_mean("frobnicate", words), None);
        assert_eq!(did_you_mean("map", words), None);
        let schemes = ["linux-6.1", "linux-6.18", "linux-6.18-npm", "exact"];
        assert_eq!(did_you_mean("linux-6.81", schemes), Some("linux-6.18"));
        assert_eq!(did_you_mean("linux-6.118", schemes), Some("linux-6.18"));
        assert_eq!(did_you_mean(&"x".repeat(1000), schemes), None);
    }

    #[test]
    fn distances() {
        assert_eq!(distance("abc", "abc"), 0);
        assert_eq!(distance("abc", "acb"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
