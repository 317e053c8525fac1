//! Integer literals: decimal or `0x` hex, `_` between digits, `K`/`M`/`G` on decimals only.

/// Why a token is not a valid integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NumError {
    /// Not a number at all (the caller says what it expected).
    Syntax,
    /// A hex number with a `K`/`M`/`G` suffix.
    HexUnit,
    /// Does not fit in u64.
    Overflow,
    /// A leading `-` outside `expect stat`.
    Negative,
}

impl NumError {
    /// The message for this error; `expected` describes what the statement wanted.
    pub(crate) fn message(self, expected: &str) -> String {
        match self {
            NumError::Syntax => format!("expected {expected}"),
            NumError::HexUnit => {
                "a unit suffix (K, M, G) is allowed on decimal numbers only".into()
            }
            NumError::Overflow => "number does not fit in 64 bits".into(),
            NumError::Negative => "a leading `-` is allowed only in `expect stat`".into(),
        }
    }
}

/// The accepted forms of integers, for the help line of a malformed one.
pub(crate) const FORMS: &str = "numbers are decimal, optionally with a binary unit suffix \
    K, M or G (`4096`, `64K`, `2M`, `1G`), or hex without a suffix (`0x1000`); `_` may \
    separate digits";

impl NumError {
    /// A help line for this error, if one helps.
    pub(crate) fn help(self, _expected: &str) -> Option<String> {
        match self {
            NumError::Syntax => Some(FORMS.into()),
            NumError::HexUnit => Some(
                "write it in decimal with the suffix (`64K`) or in hex without one (`0x10000`)"
                    .into(),
            ),
            NumError::Overflow => {
                Some("the largest value is 18446744073709551615 (`0xffffffffffffffff`)".into())
            }
            NumError::Negative => None,
        }
    }
}

/// Parses an unsigned integer literal.
pub(crate) fn parse_u64(text: &str) -> Result<u64, NumError> {
    if text.starts_with('-') {
        return Err(NumError::Negative);
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if hex.ends_with(['K', 'M', 'G']) && digits(&hex[..hex.len() - 1], 16).is_ok() {
            return Err(NumError::HexUnit);
        }
        return digits(hex, 16);
    }
    let (body, shift) = match text.as_bytes().last() {
        Some(b'K') => (&text[..text.len() - 1], 10),
        Some(b'M') => (&text[..text.len() - 1], 20),
        Some(b'G') => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let value = digits(body, 10)?;
    if value.leading_zeros() < shift {
        return Err(NumError::Overflow);
    }
    Ok(value << shift)
}

/// Parses a signed integer literal (only `expect stat` allows the `-`).
pub(crate) fn parse_i64(text: &str) -> Result<i64, NumError> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let magnitude = parse_u64(body).map_err(|e| match e {
        NumError::Negative => NumError::Syntax,
        other => other,
    })?;
    if neg {
        0i64.checked_sub_unsigned(magnitude)
            .ok_or(NumError::Overflow)
    } else {
        i64::try_from(magnitude).map_err(|_| NumError::Overflow)
    }
}

/// Digits in `radix` with `_` allowed only between two digits.
fn digits(text: &str, radix: u32) -> Result<u64, NumError> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes[0] == b'_' || bytes[bytes.len() - 1] == b'_' {
        return Err(NumError::Syntax);
    }
    let mut value: u64 = 0;
    let mut prev_underscore = false;
    for ch in text.chars() {
        if ch == '_' {
            if prev_underscore {
                return Err(NumError::Syntax);
            }
            prev_underscore = true;
            continue;
        }
        prev_underscore = false;
        let d = ch.to_digit(radix).ok_or(NumError::Syntax)?;
        value = value
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(d)))
            .ok_or(NumError::Overflow)?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse_u64("4096"), Ok(4096));
        assert_eq!(parse_u64("0x1000"), Ok(4096));
        assert_eq!(parse_u64("0xaBc"), Ok(0xabc));
        assert_eq!(parse_u64("1_000"), Ok(1000));
        assert_eq!(parse_u64("64K"), Ok(65536));
        assert_eq!(parse_u64("2M"), Ok(2 << 20));
        assert_eq!(parse_u64("1G"), Ok(1 << 30));
        assert_eq!(parse_u64("0x10K"), Err(NumError::HexUnit));
        assert_eq!(parse_u64("1__0"), Err(NumError::Syntax));
        assert_eq!(parse_u64("_1"), Err(NumError::Syntax));
        assert_eq!(parse_u64("0x"), Err(NumError::Syntax));
        assert_eq!(parse_u64("K"), Err(NumError::Syntax));
        assert_eq!(parse_u64("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_u64("18446744073709551616"), Err(NumError::Overflow));
        assert_eq!(parse_u64("17179869184G"), Err(NumError::Overflow));
        assert_eq!(parse_u64("-1"), Err(NumError::Negative));
        assert_eq!(parse_i64("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_i64("-0x10"), Ok(-16));
        assert_eq!(parse_i64("9223372036854775808"), Err(NumError::Overflow));
        assert_eq!(parse_i64("--1"), Err(NumError::Syntax));
    }
}
