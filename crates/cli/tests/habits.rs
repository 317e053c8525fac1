//! The command as kernel developers and Rust CLI users expect it (issue 16): exit statuses,
//! a closed pipe ends quietly, `-` and plain standard input, `fmt --check` and `fmt -w`,
//! and diagnostics with the source line, a caret, the accepted forms and "did you mean".

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::BIN;

fn tmp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("foliolab-habits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_tmp(name: &str, text: &[u8]) -> PathBuf {
    let p = tmp_dir().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Exit status, stdout and stderr of `foliolab ARGS` with `stdin` as standard input.
fn run(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    support::run_in(Path::new("."), args, stdin)
}

const GOOD: &str = "scenario 1\nspawn p\np: map a 64K\np: write a 0x1\np: expect a == 0x1\n";

// ---- exit statuses ----

#[test]
fn exit_statuses_say_what_happened() {
    let (code, _, _) = run(&["run", "-"], GOOD.as_bytes());
    assert_eq!(code, 0);
    let failing = "scenario 1\nspawn p\np: map a 4K\np: write a 1\np: expect a == 0x2\n";
    let (code, out, _) = run(&["run", "-"], failing.as_bytes());
    assert_eq!(code, 1, "{out}");
    let (code, _, err) = run(&["run", "-"], b"scenario 1\nfrobnicate\n");
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["run", "--no-such-flag"], b"");
    assert_eq!(code, 2, "a usage error: {err}");
    let (code, _, err) = run(&["run", "--scheme", "linux-6.81", "-"], GOOD.as_bytes());
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `linux-6.18`?"), "{err}");
    let (code, _, err) = run(&["run", "/nonexistent/x.scn"], b"");
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/x.scn: cannot read"), "{err}");
}

#[test]
fn the_worst_status_of_several_files_wins() {
    let good = write_tmp("good.scn", GOOD.as_bytes());
    let bad = write_tmp("bad.scn", b"scenario 1\nspawn p\np: exit\np: exit\n");
    let (code, out, err) = run(&["run", good.to_str().unwrap(), bad.to_str().unwrap()], b"");
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("exit 0"), "the good file still ran: {out}");
}

// ---- pipes ----

/// Runs `args` with a reader that closes the pipe after `keep` lines (0: at once).
fn closed_pipe(args: &[&str], keep: usize) -> (i32, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = 0;
    let mut byte = [0u8; 1];
    while seen < keep && stdout.read(&mut byte).unwrap_or(0) == 1 {
        seen += usize::from(byte[0] == b'\n');
    }
    drop(stdout);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap().code().unwrap_or(-1), err)
}

#[test]
fn a_closed_pipe_ends_quietly_with_exit_0() {
    for keep in [0, 1, 3] {
        for args in [
            &["run"][..],
            &["run", "--json"],
            &["compare"],
            &[
                "fuzz", "--seed", "1", "--seeds", "4", "--steps", "20", "--jobs", "1", "-v",
            ],
        ] {
            let (code, err) = closed_pipe(args, keep);
            assert_eq!(code, 0, "foliolab {args:?} | head -{keep}: {err}");
            assert!(!err.contains("panicked"), "foliolab {args:?}: {err}");
            assert!(
                err.is_empty(),
                "foliolab {args:?} | head -{keep} printed: {err}"
            );
        }
    }
}

#[test]
fn fmt_to_a_closed_pipe_ends_quietly() {
    let mut big = String::from("scenario 1\nspawn p\np: map a 64K\n");
    for _ in 0..20_000 {
        big.push_str("p: write a 1\n");
    }
    let p = write_tmp("big.scn", big.as_bytes());
    let (code, err) = closed_pipe(&["fmt", p.to_str().unwrap()], 1);
    assert_eq!((code, err.as_str()), (0, ""));
}

// ---- standard input ----

#[test]
fn dash_reads_standard_input() {
    let (code, out, _) = run(&["run", "-"], GOOD.as_bytes());
    assert_eq!(code, 0);
    assert!(out.contains("== <stdin>"), "{out}");
    let (code, _, err) = run(&["run", "-"], b"scenario 1\nspawn p\np: mmap a 4K\n");
    assert_eq!(code, 2);
    assert!(err.starts_with("<stdin>:3:4: unknown statement"), "{err}");
    let (code, _, err) = run(&["run", "-", "-"], GOOD.as_bytes());
    assert_eq!(code, 2);
    assert!(
        err.contains("standard input is given more than once"),
        "{err}"
    );
}

#[test]
fn fmt_without_files_reads_standard_input() {
    let (code, out, _) = run(&["fmt"], b"scenario 1\nspawn p\np: map a 65536\n");
    assert_eq!(code, 0);
    assert_eq!(out, "scenario 1\nspawn p\np: map a 64K\n");
}

// ---- fmt --check, fmt -w ----

#[test]
fn fmt_check_reports_each_file_that_is_not_canonical() {
    let canonical = write_tmp("canonical.scn", GOOD.as_bytes());
    let (code, out, err) = run(&["fmt", "--check", canonical.to_str().unwrap()], b"");
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    let messy = write_tmp(
        "messy.scn",
        b"scenario 1\nspawn p\np: map a 65536   # big\np: write a 0xAA\n",
    );
    let invalid = write_tmp("invalid.scn", b"scenario 1\nspawn p\np: mmap a\n");
    let files = [
        canonical.to_str().unwrap(),
        messy.to_str().unwrap(),
        invalid.to_str().unwrap(),
    ];
    let (code, out, err) = run(&["fmt", "--check", files[0], files[1]], b"");
    assert_eq!(code, 1, "{out}{err}");
    let m = files[1];
    assert!(
        out.starts_with(&format!("--- {m}\n+++ {m} (canonical)\n@@ -1,4 +1,4 @@\n")),
        "{out}"
    );
    assert!(
        out.contains(
            "\n-p: map a 65536   # big\n-p: write a 0xAA\n+p: map a 64K # big\n+p: write a 0xaa\n"
        ),
        "{out}"
    );
    assert!(
        !out.contains(files[0]),
        "a canonical file is not reported: {out}"
    );
    let (code, _, err) = run(&["fmt", "--check", files[0], files[1], files[2]], b"");
    assert_eq!(code, 2, "an unparsable file is exit 2");
    assert!(err.contains("invalid.scn:3:4: unknown statement"), "{err}");
}

#[test]
fn fmt_w_rewrites_files_in_place() {
    let a = write_tmp(
        "w-a.scn",
        b"scenario 1\nspawn p\np: map a 2048K\n\n\n# end\n",
    );
    let b = write_tmp("w-b.scn", GOOD.as_bytes());
    let (code, out, err) = run(
        &["fmt", "-w", a.to_str().unwrap(), b.to_str().unwrap()],
        b"",
    );
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    assert_eq!(
        std::fs::read_to_string(&a).unwrap(),
        "scenario 1\nspawn p\np: map a 2M\n\n# end\n"
    );
    assert_eq!(std::fs::read_to_string(&b).unwrap(), GOOD);
    let (code, _, _) = run(&["fmt", "--check", a.to_str().unwrap()], b"");
    assert_eq!(code, 0, "fmt -w output is canonical");
    let (code, _, err) = run(&["fmt", "-w"], GOOD.as_bytes());
    assert_eq!(code, 2);
    assert!(err.contains("standard input"), "{err}");
    let (code, _, err) = run(&["fmt", a.to_str().unwrap(), b.to_str().unwrap()], b"");
    assert_eq!(code, 2, "several files need --check or -w");
    assert!(err.contains("--check") && err.contains("-w"), "{err}");
    let (code, _, _) = run(&["fmt", "--check", "-w", a.to_str().unwrap()], b"");
    assert_eq!(code, 2, "--check and -w conflict");
}

// ---- diagnostics ----

/// The error output of `foliolab run -` on `text`, which must be invalid.
fn diagnostic(text: &[u8]) -> String {
    let (code, out, err) = run(&["run", "-"], text);
    assert_eq!(code, 2, "{out}{err}");
    out + &err
}

#[test]
fn a_diagnostic_shows_the_line_with_a_caret_under_the_token() {
    let d = diagnostic(b"scenario 1\nspawn p\np: mmap a 4K\n");
    assert!(
        d.contains("<stdin>:3:4: unknown statement (found `mmap`)\n  |\n3 | p: mmap a 4K\n  |    ^^^^\n  = help: did you mean `map`?"),
        "{d}"
    );
}

#[test]
fn did_you_mean_for_statements_keywords_schemes_and_names() {
    let head = "scenario 1\nspawn p\np: map a 64K\n";
    for (body, hint) in [
        ("spwan q\n", "did you mean `spawn`?"),
        ("p: advise a dontned\n", "did you mean `dontneed`?"),
        ("p: expect a presnet\n", "did you mean `present`?"),
        ("p: map b 4K anonn\n", "did you mean `anon`?"),
        ("p: write aa 1\n", "did you mean `a`?"),
        ("expect stat 2M.spilt == 0\n", "did you mean `2M.split`?"),
        ("pp: write a 1\n", "did you mean `p`?"),
        (
            "p: remember snap a\np: expect a same snp\n",
            "did you mean `snap`?",
        ),
        ("thp 2m=always\n", "did you mean `2M`?"),
        ("map b 4K\n", "`map` is a process statement"),
        ("p:map b 4K\n", "a process prefix is followed by a space"),
    ] {
        let d = diagnostic(format!("{head}{body}").as_bytes());
        assert!(d.contains(hint), "{body}: {d}");
    }
    let d = diagnostic(b"scenario 1\nschemes linux-6.18 linux-6.81\n");
    assert!(
        d.contains("<stdin>:2:20: unknown scheme `linux-6.81`"),
        "{d}"
    );
    assert!(d.contains("did you mean `linux-6.18`?"), "{d}");
    let d = diagnostic(b"scenario 1\nthp enabeld=always\n");
    assert!(d.contains("did you mean `enabled`?"), "{d}");
}

#[test]
fn size_errors_name_the_accepted_forms() {
    let d = diagnostic(b"scenario 1\nspawn p\np: map a 64KB\n");
    assert!(
        d.contains("<stdin>:3:10: expected a size (multiple of 4K) (found `64KB`)"),
        "{d}"
    );
    assert!(
        d.contains("suffix K, M or G") && d.contains("`0x1000`"),
        "{d}"
    );
    let d = diagnostic(b"scenario 1\nspawn p\np: map a 0x10K\n");
    assert!(d.contains("in hex without one"), "{d}");
}

#[test]
fn a_value_error_points_at_the_value() {
    let d = diagnostic(b"scenario 1\nspawn p\np: map a 6000\n");
    assert!(
        d.contains("<stdin>:3:10: region size must be a non-zero multiple of 4K (found `6000`)"),
        "{d}"
    );
    assert!(d.contains("3 | p: map a 6000\n  |          ^^^^\n"), "{d}");
    assert!(d.contains("4K and 8K"), "{d}");
    let d = diagnostic(b"scenario 1\nspawn p\np: map a 64K align=3K\n");
    assert!(d.contains("<stdin>:3:20: alignment must be"), "{d}");
}

#[test]
fn a_huge_token_is_never_echoed_whole() {
    let long = "x".repeat(10 << 20);
    let d = diagnostic(format!("scenario 1\nspawn p\np: map a {long}\n").as_bytes());
    assert!(d.len() < 2000, "{} bytes of diagnostic", d.len());
    assert!(d.contains("(10485760 bytes)"), "{}", &d[..d.len().min(600)]);
}

#[test]
fn invalid_utf8_says_where() {
    let d = diagnostic(b"scenario 1\nspawn p\np: map \xc3\xa9a 4K\np: write a \xff1\n");
    assert!(d.contains("<stdin>:4:12: invalid UTF-8 (byte 0xff)"), "{d}");
}

#[test]
fn limits_are_named() {
    let d = diagnostic(b"scenario 1\nspawn p\np: map a 0xfffffffffffff000 align=4K\n");
    assert!(
        d.contains("<stdin>:3:10:") && d.contains("the limit is 65536G (64 TiB)"),
        "{d}"
    );
    let d = diagnostic(b"scenario 1\nspawn p\np: map a 1024G\np: expect a none\n");
    assert!(
        d.contains("<stdin>:4:11:") && d.contains("the limit is 4G (1048576 pages)"),
        "{d}"
    );
    let d = diagnostic(b"scenario 1\nswap 0xfffffffffffff000\n");
    assert!(
        d.contains("<stdin>:2:6:") && d.contains("the limit is 16G"),
        "{d}"
    );
}

#[test]
fn run_errors_speak_in_region_offsets() {
    let d = diagnostic(b"scenario 1\nspawn p\np: map a 8K prot=r\np: write a+4K 1\n");
    assert!(d.contains("<stdin>:4:1: SIGSEGV at a+0x1000"), "{d}");
}

#[test]
fn the_schemes_list_of_the_language_is_the_models() {
    assert_eq!(
        foliolab_scenario::SCHEME_NAMES,
        foliolab_sim::scheme_names().as_slice()
    );
}
