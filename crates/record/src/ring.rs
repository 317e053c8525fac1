//! The ring buffer's sub-buffers ("pages") as `per_cpu/cpuN/trace_pipe_raw` returns them
//! (kernel/trace/ring_buffer.c; the layout is in `events/header_page` and
//! `events/header_event`): a 64-bit timestamp, a 64-bit commit word (data length in the low
//! 27 bits, bit 31 set when events were lost before this page, bit 30 when their count is
//! stored after the data), then events. Each event starts with a 32-bit header: `type_len`
//! (5 bits) and `time_delta` (27 bits).

/// Header bytes before the data.
const HEADER: usize = 16;
const LEN_MASK: u64 = (1 << 27) - 1;
const MISSED_EVENTS: u64 = 1 << 31;
const MISSED_STORED: u64 = 1 << 30;
const PADDING: u32 = 29;
const TIME_EXTEND: u32 = 30;
const TIME_STAMP: u32 = 31;
const TS_SHIFT: u32 = 27;

/// Events lost before a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lost {
    None,
    /// The kernel stored how many.
    Count(u64),
    /// Some, count unknown.
    Unknown,
}

/// One page: its events (timestamp, record bytes) and what was lost before it.
#[derive(Debug, PartialEq, Eq)]
pub struct Page<'a> {
    pub events: Vec<(u64, &'a [u8])>,
    pub lost: Lost,
}

/// A page that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageError(pub String);

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// Parses one page.
pub fn parse_page(page: &[u8]) -> Result<Page<'_>, PageError> {
    let bad = |why: &str| PageError(format!("ring buffer page: {why}"));
    let mut ts = u64_at(page, 0).ok_or_else(|| bad("shorter than its header"))?;
    let commit = u64_at(page, 8).ok_or_else(|| bad("shorter than its header"))?;
    let len = (commit & LEN_MASK) as usize;
    let data = page
        .get(HEADER..HEADER + len)
        .ok_or_else(|| bad("data length past the end"))?;
    let lost = if commit & MISSED_EVENTS == 0 {
        Lost::None
    } else if commit & MISSED_STORED != 0 {
        u64_at(page, HEADER + len).map_or(Lost::Unknown, Lost::Count)
    } else {
        Lost::Unknown
    };
    let mut events = Vec::new();
    let mut off = 0;
    while off + 4 <= data.len() {
        let h = u32_at(data, off).ok_or_else(|| bad("truncated event header"))?;
        let (type_len, delta) = (h & 0x1f, (h >> 5) as u64);
        let word = || u32_at(data, off + 4).ok_or_else(|| bad("truncated event"));
        match type_len {
            PADDING if delta == 0 => break,
            PADDING => {
                ts += delta;
                off += 4 + word()? as usize;
            }
            TIME_EXTEND => {
                ts += ((word()? as u64) << TS_SHIFT) + delta;
                off += 8;
            }
            TIME_STAMP => {
                let abs = ((word()? as u64) << TS_SHIFT) | delta;
                ts = abs | (ts & !((1u64 << 59) - 1));
                off += 8;
            }
            0 => {
                ts += delta;
                let total = word()? as usize;
                let body = data
                    .get(off + 8..off + 4 + total)
                    .ok_or_else(|| bad("event past the end"))?;
                events.push((ts, body));
                off += 4 + total;
            }
            n => {
                ts += delta;
                let end = off + 4 + 4 * n as usize;
                let body = data
                    .get(off + 4..end)
                    .ok_or_else(|| bad("event past the end"))?;
                events.push((ts, body));
                off = end;
            }
        }
    }
    Ok(Page { events, lost })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(ts: u64, commit_flags: u64, data: &[u8], tail: &[u8]) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&ts.to_le_bytes());
        p.extend_from_slice(&((data.len() as u64) | commit_flags).to_le_bytes());
        p.extend_from_slice(data);
        p.extend_from_slice(tail);
        p.resize(4096, 0);
        p
    }

    fn hdr(type_len: u32, delta: u32) -> [u8; 4] {
        (type_len | (delta << 5)).to_le_bytes()
    }

    #[test]
    fn small_large_extended_and_padding_events() {
        let mut d = Vec::new();
        d.extend_from_slice(&hdr(2, 5)); // 8 data bytes at ts 105
        d.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        d.extend_from_slice(&hdr(TIME_EXTEND, 3)); // +(1 << 27) + 3
        d.extend_from_slice(&1u32.to_le_bytes());
        d.extend_from_slice(&hdr(0, 0)); // large: array[0] = 4 + 12
        d.extend_from_slice(&16u32.to_le_bytes());
        d.extend_from_slice(&[9; 12]);
        d.extend_from_slice(&hdr(PADDING, 2)); // a discarded event of 8 bytes
        d.extend_from_slice(&8u32.to_le_bytes());
        d.extend_from_slice(&[0; 4]);
        d.extend_from_slice(&hdr(1, 1));
        d.extend_from_slice(&[7; 4]);
        let p = page(100, 0, &d, &[]);
        let parsed = parse_page(&p).unwrap();
        assert_eq!(parsed.lost, Lost::None);
        let ts: Vec<u64> = parsed.events.iter().map(|e| e.0).collect();
        let big = 105 + (1 << 27) + 3;
        assert_eq!(ts, vec![105, big, big + 3]);
        assert_eq!(parsed.events[0].1, &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(parsed.events[1].1, &[9; 12]);
        assert_eq!(parsed.events[2].1, &[7; 4]);
    }

    #[test]
    fn lost_events_are_reported() {
        let d = [hdr(1, 1), [0; 4]].concat();
        let stored = page(0, MISSED_EVENTS | MISSED_STORED, &d, &42u64.to_le_bytes());
        assert_eq!(parse_page(&stored).unwrap().lost, Lost::Count(42));
        let unknown = page(0, MISSED_EVENTS, &d, &[]);
        assert_eq!(parse_page(&unknown).unwrap().lost, Lost::Unknown);
        assert!(parse_page(&[0u8; 8]).is_err());
    }
}
