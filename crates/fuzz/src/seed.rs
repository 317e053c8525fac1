//! Seeds as people and CI write them: decimal, `0x` hex, or a 40-hex git commit id (CI seeds
//! a campaign with the commit under test, so it is random yet reproducible from the commit).

/// Parses a seed; `None` when the text is none of the accepted forms.
pub fn parse_seed(text: &str) -> Option<u64> {
    let t = text.trim();
    if t.len() == 40 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(fold_commit(t));
    }
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16).ok();
    }
    t.parse().ok()
}

/// A commit id folded into 64 bits: the first 16 hex digits (git ids are uniform already).
fn fold_commit(hex40: &str) -> u64 {
    assert_eq!(hex40.len(), 40);
    u64::from_str_radix(&hex40[..16], 16).expect("hex digits checked")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse_seed("42"), Some(42));
        assert_eq!(parse_seed("0x2a"), Some(42));
        let commit = "8a5cf95e0d6c3f0b2a1e4d7c9b8a7f6e5d4c3b2a";
        assert_eq!(parse_seed(commit), Some(0x8a5cf95e0d6c3f0b));
        assert_eq!(parse_seed("nope"), None);
        assert_eq!(parse_seed("0xzz"), None);
    }
}
