//! Bad input: exact messages, positions and tokens.

use foliolab_scenario::{parse, validate, ScenarioError};

/// Parses and validates `text` (a scenario body after `scenario 1` unless it starts with
/// `!`), returning the error.
fn error_of(text: &str) -> ScenarioError {
    let s = match parse("t.scn", text) {
        Ok(s) => s,
        Err(e) => return e,
    };
    match validate(&s) {
        Ok(()) => panic!("no error for:\n{text}"),
        Err(e) => e,
    }
}

/// `line:column: message (found `token`)` of the error.
fn check(text: &str, expected: &str) {
    let e = error_of(text);
    let shown = e.to_string();
    assert_eq!(shown.strip_prefix("t.scn:"), Some(expected), "for:\n{text}");
}

const HEAD: &str = "scenario 1\nspawn p\np: map a 64K\n";

fn with_head(body: &str) -> String {
    format!("{HEAD}{body}")
}

#[test]
fn unknown_statement() {
    check(
        &with_head("p: mmap a 4K\n"),
        "4:4: unknown statement (found `mmap`)",
    );
    check(
        "scenario 1\nfrobnicate\n",
        "2:1: unknown statement (found `frobnicate`)",
    );
}

#[test]
fn bad_numbers() {
    check(
        &with_head("p: write a 12x\n"),
        "4:12: expected a value (found `12x`)",
    );
    check(
        &with_head("p: write a 0x10K\n"),
        "4:12: a unit suffix (K, M, G) is allowed on decimal numbers only (found `0x10K`)",
    );
    check(
        &with_head("p: write a 18446744073709551616\n"),
        "4:12: number does not fit in 64 bits (found `18446744073709551616`)",
    );
    check(
        &with_head("p: write a -1\n"),
        "4:12: a leading `-` is allowed only in `expect stat` (found `-1`)",
    );
    check(
        &with_head("p: map b x\n"),
        "4:10: expected a size (multiple of 4K) (found `x`)",
    );
    check(
        &with_head("p: map b\n"),
        "4:9: expected a size (multiple of 4K)",
    );
    check(
        &with_head("p: read a[0..1_]\n"),
        "4:14: expected an offset (multiple of 4K) (found `1_`)",
    );
}

#[test]
fn bad_words() {
    check(
        &with_head("p: map b 4K anonymous\n"),
        "4:13: expected one of: anon, shmem, file, driver (found `anonymous`)",
    );
    check(
        &with_head("p: protect a rwxx\n"),
        "4:14: expected one of: none, r, rw, rx, rwx (found `rwxx`)",
    );
    check(
        "scenario 1\nthp enabled=sometimes\n",
        "2:13: expected one of: always, madvise, never (found `sometimes`)",
    );
    check(
        "scenario 1\nthp 8K=always\n",
        "2:5: unknown THP key (found `8K=always`)",
    );
    check(
        &with_head("p: map map 4K\n"),
        "4:8: `map` is a keyword and cannot be a name (found `map`)",
    );
    check(
        &with_head("p: write a 1 2\n"),
        "4:14: expected end of statement (found `2`)",
    );
}

#[test]
fn ranges() {
    check(
        &with_head("p: read a[0..128K]\n"),
        "4:9: range is outside region `a` (size 64K) (found `a[0..128K]`)",
    );
    check(
        &with_head("p: read a+64K\n"),
        "4:9: range is outside region `a` (size 64K) (found `a+64K`)",
    );
    check(
        &with_head("p: read a[8K..8K]\n"),
        "4:9: empty range (found `a[8K..8K]`)",
    );
    check(
        &with_head("p: read a[0..+0]\n"),
        "4:9: empty range (found `a[0..+0]`)",
    );
    check(
        &with_head("p: read a[0..6000]\n"),
        "4:9: range offsets must be multiples of 4K (found `a[0..6000]`)",
    );
    check(
        &with_head("p: read a[0x10..32K\n"),
        "4:10: expected a range (R, R+OFF, R[START..END] or R[START..+LEN]) (found `[0x10..32K`)",
    );
}

#[test]
fn names() {
    check(
        &with_head("p: read b\n"),
        "4:9: unknown region `b` of process `p` (found `b`)",
    );
    check(
        &with_head("q: read a\n"),
        "4:1: unknown process `q` (found `q`)",
    );
    check(
        &with_head("p: map a 4K\n"),
        "4:1: region name `a` is already defined (names are never reused) (found `a`)",
    );
    check(
        &with_head("p: expect a same s\n"),
        "4:1: unknown snapshot `s` (found `s`)",
    );
    check(
        &with_head("p: release k\n"),
        "4:1: unknown pin or pipe `k` (found `k`)",
    );
}

#[test]
fn names_are_never_reused() {
    check(
        &with_head("p: fork c\nc: exit\nspawn c\n"),
        "6:1: process name `c` is already defined (names are never reused) (found `c`)",
    );
    check(
        &with_head("p: move a b\np: map b 4K\n"),
        "5:1: region name `b` is already defined (names are never reused) (found `b`)",
    );
    check(
        &with_head("p: pin k a\np: release k\np: splice k a\n"),
        "6:1: pin or pipe name `k` is already defined (names are never reused) (found `k`)",
    );
    check(
        &with_head("p: fork c\nc: map a 4K\n"),
        "5:1: region name `a` is already defined (names are never reused) (found `a`)",
    );
}

#[test]
fn use_after_exit_and_release() {
    check(
        &with_head("p: exit\np: read a\n"),
        "5:1: process `p` has exited (found `p`)",
    );
    check(
        &with_head("p: pin k a\np: release k\np: release k\n"),
        "6:1: `k` has been released (found `k`)",
    );
    check(
        &with_head("p: splice k a\np: fork c\nc: release k\n"),
        "6:1: `k` is held by process `p` (found `k`)",
    );
    check(
        &with_head("p: pin k a\np: expect pipe k == 0\n"),
        "5:1: `k` is a pin, not a pipe (found `k`)",
    );
}

#[test]
fn statement_order() {
    check(
        "# hello\nspawn p\n",
        "2:1: expected `scenario 1` as the first statement (found `spawn`)",
    );
    check(
        "scenario 7\n",
        "1:1: unsupported format version (expected 1 or 2) (found `7`)",
    );
    check("", "1:1: a scenario starts with `scenario 1`");
    check(
        &with_head("thp enabled=always\n"),
        "4:1: `thp` must come before the first `spawn` (found `thp`)",
    );
    check(
        "scenario 1\nswap 1G\nswap 2G\n",
        "3:1: `swap` may appear only once (found `swap`)",
    );
    check(
        &with_head("file f 4K\n"),
        "4:1: `file` must come before the first `spawn` (found `file`)",
    );
    check(
        "scenario 1\nscenario 1\n",
        "2:1: `scenario` may only be the first statement (found `scenario`)",
    );
}

#[test]
fn sizes_and_values() {
    check(
        &with_head("p: map b 6000\n"),
        "4:1: region size must be a non-zero multiple of 4K (found `6000`)",
    );
    check(
        &with_head("p: map b 4K align=12K\n"),
        "4:1: alignment must be a power of two from 4K to 512M (found `12K`)",
    );
    check(
        &with_head("p: move a b align=64K shift=64K\n"),
        "4:1: shift must be a multiple of 4K below the alignment (found `64K`)",
    );
    check(
        &with_head("p: expect smaps a rss == 1000\n"),
        "4:1: smaps sizes are multiples of 1K (found `1000`)",
    );
    check(
        &with_head("expect stat 8K.split == 1\n"),
        "4:1: unknown counter (see spec 3.6) (found `8K.split`)",
    );
    check(
        &with_head("p: expect folio a slot0 == 3\n"),
        "4:1: `slot0` takes PROC:COUNT or none (found `slot0`)",
    );
    check(
        &with_head("p: expect page a writable == 1\n"),
        "4:1: `writable` takes true or false (found `writable`)",
    );
    check(
        &with_head("p: expect a order == 10\n"),
        "4:22: expected an order (0 to 9) (found `10`)",
    );
}

#[test]
fn columns_count_scalar_values() {
    check(
        "scenario 1 # é\nspawn é\n",
        "2:7: expected a process name (found `é`)",
    );
    check(
        "scenario 1\n\tspawn p # ééé\n\tp: map a 4K\n\tp: read é\n",
        "4:10: expected a range (R, R+OFF, R[START..END] or R[START..+LEN]) (found `é`)",
    );
}

const V2: &str = "scenario 2\nfile f 64K\nspawn p\np: space s 4M\n";

#[test]
fn version_two_statements() {
    check(
        "scenario 1\nspawn p\np: space s 4M\n",
        "3:1: `space` with a space needs `scenario 2` (found `space`)",
    );
    check(
        "scenario 3\n",
        "1:1: unsupported format version (expected 1 or 2) (found `3`)",
    );
    check(
        &format!("{V2}p: map a 64K at=t+0\n"),
        "5:1: unknown space `t` of process `p` (found `t`)",
    );
    check(
        &format!("{V2}p: map a 64K at=s+4064K\n"),
        "5:1: `at=s+4064K` does not fit in space `s` (size 4M) (found `s`)",
    );
    check(
        &format!("{V2}p: map a 64K off=4K\n"),
        "5:20: `off=` needs `at=` (version 2)",
    );
    check(
        &format!("{V2}p: map a 64K at=s+0 off=4K\n"),
        "5:14: `off=` is for file mappings only (found `at=s+0`)",
    );
    check(
        &format!("{V2}p: map a 64K align=4K at=s+0\n"),
        "5:23: `at=` and `align=` exclude each other (found `at=s+0`)",
    );
    check(
        &format!("{V2}p: map a 64K at=s+0\np: map a 4K at=s+1M\n"),
        "6:1: region name `a` is already defined (names are never reused) (found `a`)",
    );
    check(
        &format!("{V2}p: space s2 4M shift=2M\n"),
        "5:1: shift must be a multiple of 4K below the alignment (found `2M`)",
    );
}

#[test]
fn version_two_accepts_placed_regions() {
    let text = format!(
        "{V2}p: map a 64K file f private prot=rx at=s+2M off=16K\np: read s+2M\n\
         p: move a[0..4K] b at=s+1M\np: unmap s[0..4M]\n"
    );
    let s = parse("t.scn", &text).unwrap();
    validate(&s).unwrap();
    let printed = foliolab_scenario::print(&s);
    assert!(printed.contains("p: map a 64K file f private prot=rx at=s+2M off=16K\n"));
    assert!(printed.contains("p: move a[0..4K] b at=s+1M\n"));
    assert!(parse("t.scn", &printed).unwrap().same_program(&s));
}
