//! Mutation fuzzing of scenario text: the repository's scenarios, changed a few edits at a
//! time (numbers turned into edge values, words swapped for other words of the language,
//! lines duplicated, dropped, moved or borrowed from another scenario, bytes inserted,
//! names broken), each run through the real `foliolab run` path ([`run_case`]). Whatever
//! the text, the binary must answer with an exit status and a message, never a panic
//! (exit 101) or an abort (134). Deterministic: the same seed gives the same mutants.

use crate::load::load_bytes;
use crate::run::{run_loaded, RunOptions};
use foliolab_fuzz::{Prng, Rng};
use foliolab_scenario::keywords::KEYWORDS;

/// Values a number is turned into: page and folio boundaries, the limits of the format
/// (4G page walk, 16G swap, 64T address space) and their neighbours, and u64 overflow.
const EDGE_NUMBERS: &[&str] = &[
    "0",
    "1",
    "511",
    "512",
    "4095",
    "4096",
    "4097",
    "6000",
    "4K",
    "8K",
    "60K",
    "64K",
    "2M",
    "0x1ff000",
    "0x200000",
    "512M",
    "1G",
    "4G",
    "4194308K",
    "16G",
    "16777220K",
    "64G",
    "1024G",
    "65536G",
    "67108864M",
    "0xfffffffffffff000",
    "0xffffffffffffffff",
    "18446744073709551615",
    "18446744073709551616",
    "17179869183G",
    "17179869184G",
    "9223372036854775807",
    "-1",
    "-9223372036854775808",
    "0x",
    "1_",
    "0x10K",
];

/// What a word swap draws from after the language's own words ([`swap_keywords`]): two
/// folio fields, the booleans, and near misses (tokens that look like a word, a scheme, a
/// THP setting, an option, an address or a range, and lone separators).
const NEAR_MISSES: &[&str] = &[
    "refcount",
    "slot0",
    "p:1",
    "true",
    "false",
    "==",
    "linux-5.7",
    "linux-6.81",
    "exact",
    "enabled=always",
    "2M=always",
    "64K=madvise",
    "shmem=always",
    "max_ptes_none=0",
    "align=4K",
    "align=512M",
    "align=1G",
    "shift=4K",
    "prot=none",
    "prot=r",
    "a+0x3000",
    "a[0..64K]",
    "a[4K..+8K]",
    "a[0..0]",
    "a[0xfffffffffffff000..+4K]",
    "2M.split",
    "nr_anon_mapped",
    "p:",
    "c:",
    "p",
    "c",
    "a",
    "b",
    "s",
    "k",
    "zz",
    "#",
    ":",
    "=",
    "[",
    "..",
    "+",
];

/// Bytes inserted at random: separators, comment and prefix marks, control and invalid
/// UTF-8 bytes.
const ODD_BYTES: &[u8] = b" \t\n\r#:=[]+.x_0\x00\x7f\xff\xc3\xe2";

/// A mutant of `text`: one to four edits. `donors` are other scenarios to borrow from.
pub fn mutate(text: &str, donors: &[&str], rng: &mut Rng<'_>) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = text.lines().map(|l| l.as_bytes().to_vec()).collect();
    let edits = 1 + rng.weighted(&[12, 5, 2, 1]).unwrap_or(0);
    for _ in 0..edits {
        edit(&mut lines, donors, rng);
    }
    let mut out = Vec::new();
    for l in &lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

fn edit(lines: &mut Vec<Vec<u8>>, donors: &[&str], rng: &mut Rng<'_>) {
    if lines.is_empty() {
        lines.push(b"scenario 1".to_vec());
    }
    let i = rng.below(lines.len() as u64) as usize;
    match rng.weighted(&[40, 12, 8, 8, 6, 8, 8, 4, 4, 2, 2]) {
        Some(0) => replace_number(&mut lines[i], rng),
        Some(1) => replace_token(&mut lines[i], |rng| word(rng).as_bytes().to_vec(), rng),
        Some(2) => {
            let donor = donor_line(donors, rng);
            replace_token(&mut lines[i], |rng| pick_token(&donor, rng), rng);
        }
        Some(3) => {
            let copy = lines[i].clone();
            lines.insert(rng.below(lines.len() as u64 + 1) as usize, copy);
        }
        Some(4) => {
            lines.remove(i);
        }
        Some(5) => {
            let j = rng.below(lines.len() as u64) as usize;
            lines.swap(i, j);
        }
        Some(6) => {
            let donor = donor_line(donors, rng);
            lines.insert(rng.below(lines.len() as u64 + 1) as usize, donor);
        }
        Some(7) => insert_byte(&mut lines[i], rng),
        Some(8) => {
            let keep = rng.below(lines[i].len() as u64 + 1) as usize;
            lines[i].truncate(keep);
        }
        Some(9) => lines.truncate(i + 1),
        _ => {
            let long = vec![b'a' + rng.below(26) as u8; rng.between(100, 100_000) as usize];
            replace_token(&mut lines[i], |_| long.clone(), rng);
        }
    }
}

/// The scenario crate's keywords of statements, expectations, kinds, protections, pins and
/// advice: [`KEYWORDS`] up to its first smaps field.
fn swap_keywords() -> &'static [&'static str] {
    let fields = KEYWORDS.iter().position(|w| *w == "pss");
    &KEYWORDS[..fields.expect("KEYWORDS lists the smaps fields")]
}

/// A word of the language or a near miss, uniformly.
fn word(rng: &mut Rng<'_>) -> &'static str {
    let words = swap_keywords();
    let i = rng.below((words.len() + NEAR_MISSES.len()) as u64) as usize;
    words
        .get(i)
        .unwrap_or_else(|| &NEAR_MISSES[i - words.len()])
}

/// A random line of a random donor.
fn donor_line(donors: &[&str], rng: &mut Rng<'_>) -> Vec<u8> {
    if donors.is_empty() {
        return b"spawn p".to_vec();
    }
    let d = rng.pick(donors);
    let lines: Vec<&str> = d.lines().collect();
    if lines.is_empty() {
        return Vec::new();
    }
    rng.pick(&lines).as_bytes().to_vec()
}

/// Byte spans of the space-separated tokens of `line`.
fn tokens(line: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &b) in line.iter().chain(std::iter::once(&b' ')).enumerate() {
        match (b == b' ' || b == b'\t', start) {
            (true, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    out
}

fn pick_token(line: &[u8], rng: &mut Rng<'_>) -> Vec<u8> {
    let toks = tokens(line);
    if toks.is_empty() {
        return b"x".to_vec();
    }
    let (s, e) = *rng.pick(&toks);
    line[s..e].to_vec()
}

/// Replaces one token of `line` (or appends one) with `with(rng)`. The statement word (and
/// a process prefix) is kept most of the time, so that most mutants stay statements.
fn replace_token(line: &mut Vec<u8>, with: impl Fn(&mut Rng<'_>) -> Vec<u8>, rng: &mut Rng<'_>) {
    let toks = tokens(line);
    let new = with(rng);
    let head = match toks.first() {
        Some(&(s, e)) if line[s..e].ends_with(b":") => 2,
        Some(_) => 1,
        None => 0,
    };
    let skip = if rng.chance(1, 10) {
        0
    } else {
        head.min(toks.len())
    };
    if toks.len() <= skip || rng.chance(1, 8) {
        line.push(b' ');
        line.extend_from_slice(&new);
        return;
    }
    let (s, e) = *rng.pick(&toks[skip..]);
    line.splice(s..e, new);
}

/// Replaces a run of digits (a number, or a number inside a range or `KEY=VALUE`) with an
/// edge value; a line without digits gets a word swapped instead.
fn replace_number(line: &mut Vec<u8>, rng: &mut Rng<'_>) {
    let runs = digit_runs(line);
    if runs.is_empty() || (line.starts_with(b"scenario") && !rng.chance(1, 10)) {
        replace_token(line, |rng| rng.pick(EDGE_NUMBERS).as_bytes().to_vec(), rng);
        return;
    }
    let (s, e) = *rng.pick(&runs);
    let new = if rng.chance(1, 6) {
        rng.u64().to_string().into_bytes()
    } else {
        rng.pick(EDGE_NUMBERS).as_bytes().to_vec()
    };
    line.splice(s..e, new);
}

/// Spans of numbers: a digit run with its `0x` prefix, hex digits and unit suffix.
fn digit_runs(line: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        let starts = line[i].is_ascii_digit() && (i == 0 || !line[i - 1].is_ascii_alphanumeric());
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < line.len() && (line[j].is_ascii_alphanumeric() || line[j] == b'_') {
            j += 1;
        }
        out.push((i, j));
        i = j;
    }
    out
}

fn insert_byte(line: &mut Vec<u8>, rng: &mut Rng<'_>) {
    let at = rng.below(line.len() as u64 + 1) as usize;
    line.insert(at, *rng.pick(ODD_BYTES));
}

/// What one run of a mutant gave: the exit status and what it wrote.
#[derive(Debug)]
pub struct CaseResult {
    pub exit: u8,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `bytes` as the scenario `name` through `foliolab run`'s path, in-process.
pub fn run_case(name: &str, bytes: &[u8], opts: &RunOptions) -> CaseResult {
    let loaded = load_bytes(name, bytes);
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let exit = run_loaded(name, &loaded, opts, &mut stdout, &mut stderr)
        .expect("writing to memory cannot fail");
    CaseResult {
        exit,
        stdout,
        stderr,
    }
}

/// The mutant number `index` of a campaign seeded with `seed` over `corpus` (name, text):
/// which scenario it mutates and the bytes.
pub fn case(seed: u64, index: u64, corpus: &[(String, String)]) -> (usize, Vec<u8>) {
    let mut rng = Rng::new(Prng::new(foliolab_fuzz::case_seed(seed, index)));
    let which = rng.below(corpus.len() as u64) as usize;
    let donors: Vec<&str> = (0..3)
        .map(|_| corpus[rng.below(corpus.len() as u64) as usize].1.as_str())
        .collect();
    (which, mutate(&corpus[which].1, &donors, &mut rng))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutants_are_deterministic_and_differ() {
        let corpus = vec![(
            "a.scn".to_string(),
            "scenario 1\nspawn p\np: map a 64K\np: write a[0..8K] 0x1\n".to_string(),
        )];
        let a: Vec<Vec<u8>> = (0..50).map(|i| case(7, i, &corpus).1).collect();
        let b: Vec<Vec<u8>> = (0..50).map(|i| case(7, i, &corpus).1).collect();
        assert_eq!(a, b);
        let changed = a
            .iter()
            .filter(|m| m.as_slice() != corpus[0].1.as_bytes())
            .count();
        assert!(changed > 40, "{changed}");
    }

    #[test]
    fn numbers_inside_tokens_are_found() {
        let line = b"p: write a[0x1000..+8K] 12 align=64K";
        let runs: Vec<&[u8]> = digit_runs(line).iter().map(|&(s, e)| &line[s..e]).collect();
        assert_eq!(runs, vec![&b"0x1000"[..], b"8K", b"12", b"64K"]);
    }
}
