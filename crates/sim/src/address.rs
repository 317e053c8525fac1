//! Run errors speak as the scenario does: an address inside a region of the process is
//! written `region+0xOFFSET` (`SIGSEGV at a+0x3000`), not as the model's virtual address.

use crate::place::Region;
use foliolab_driver::RunError;

/// `e` with every hexadecimal address that falls inside one of `regions` (name and bounds)
/// written as an offset into that region.
pub(crate) fn relative(mut e: RunError, regions: &[(String, Region)]) -> RunError {
    let mut out = String::new();
    let mut rest = e.message.as_str();
    while let Some(i) = rest.find("0x") {
        out.push_str(&rest[..i]);
        let digits = rest[i + 2..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .map_or(rest.len(), |n| i + 2 + n);
        let token = &rest[i..digits];
        let va = u64::from_str_radix(&token[2..], 16).ok();
        let inside = va.and_then(|va| {
            regions.iter().find_map(|(name, r)| {
                let off = va.checked_sub(r.start.0)?;
                (off < r.size_bytes).then(|| format!("{name}+{off:#x}"))
            })
        });
        out.push_str(inside.as_deref().unwrap_or(token));
        rest = &rest[digits..];
    }
    out.push_str(rest);
    e.message = out;
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use foliolab_types::VirtAddr;

    #[test]
    fn addresses_inside_regions_become_offsets() {
        let regions = vec![(
            "a".to_string(),
            Region {
                start: VirtAddr(0x100_0020_0000),
                size_bytes: 0x8000,
            },
        )];
        let e = RunError::new("SIGSEGV at 0x10000203000: no mapping");
        assert_eq!(
            relative(e, &regions).message,
            "SIGSEGV at a+0x3000: no mapping"
        );
        let e = RunError::new("EFAULT at 0x10000208000: x, 0x");
        assert_eq!(
            relative(e, &regions).message,
            "EFAULT at 0x10000208000: x, 0x"
        );
    }
}
