//! Property-style test: random token soup never makes the parser, validator or printer panic,
//! and whatever parses round-trips.

use foliolab_scenario::{parse, print, validate};

/// xorshift64*: a small deterministic PRNG.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const TOKENS: &[&str] = &[
    "scenario",
    "1",
    "p:",
    "c:",
    "q:",
    "spawn",
    "p",
    "c",
    "map",
    "a",
    "b",
    "64K",
    "2M",
    "0x1000",
    "0x10K",
    "-1",
    "4096",
    "18446744073709551616",
    "a+0x3000",
    "a[0..64K]",
    "a[4K..+8K]",
    "a[",
    "a[0..",
    "a+",
    "[..]",
    "write",
    "read",
    "expect",
    "==",
    "same",
    "new",
    "remember",
    "s",
    "fork",
    "exit",
    "pin",
    "splice",
    "release",
    "k",
    "thp",
    "enabled=always",
    "64K=",
    "=",
    "shmem.2M=inherit",
    "max_ptes_none=512",
    "stat",
    "2M.split",
    "observe",
    "stats",
    "smaps",
    "rss",
    "anon",
    "folio",
    "page",
    "slot0",
    "p:1",
    "none",
    "true",
    "mapcount",
    "order",
    "9",
    "at",
    "move",
    "align=4K",
    "shift=4K",
    "file",
    "f",
    "private",
    "driver",
    "#",
    "# c",
    "\t",
    "é",
    "\u{0}",
    "\r",
    "::",
    ":",
    "1_",
    "_",
    "0x",
    "K",
    "5G",
    "schemes",
    "linux-6.18",
    "swap",
    "protect",
    "rw",
    "advise",
    "hugepage",
    "migrate",
    "faults",
];

fn soup(rng: &mut Rng) -> String {
    let mut text = String::new();
    let lines = rng.next() % 12;
    if rng.next().is_multiple_of(2) {
        text.push_str("scenario 1\n");
    }
    for _ in 0..lines {
        let n = rng.next() % 7;
        for i in 0..n {
            if i > 0 && !rng.next().is_multiple_of(5) {
                text.push(' ');
            }
            text.push_str(rng.pick(TOKENS));
        }
        text.push('\n');
    }
    text
}

#[test]
fn token_soup_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut parsed = 0;
    for _ in 0..20_000 {
        let text = soup(&mut rng);
        if let Ok(s) = parse("soup.scn", &text) {
            parsed += 1;
            let _ = validate(&s);
            let printed = print(&s);
            let again =
                parse("soup.scn", &printed).unwrap_or_else(|e| panic!("{e}\n{text}\n{printed}"));
            assert!(s.same_program(&again), "{text}\n{printed}");
        }
    }
    assert!(parsed > 100, "the soup should sometimes parse ({parsed})");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let len = (rng.next() % 64) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| (rng.next() % 128) as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(s) = parse("bytes.scn", &text) {
            let _ = validate(&s);
            let _ = print(&s);
        }
    }
}
