//! The command in a shell (issue 16 items 5 and 6): `--version` with the commit, completion
//! scripts and manual pages generated from the argument definitions, `--scheme` values in
//! `--help`, and TAP 13 output (kselftest style) for `run` and `check`.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    support::run_in(&root(), args, stdin)
}

fn tool_available(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn version_names_the_commit() {
    let (code, out, _) = run(&["--version"], b"");
    assert_eq!(code, 0);
    let git = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root())
        .output();
    match git {
        Ok(g) if g.status.success() => {
            let hash = String::from_utf8_lossy(&g.stdout).trim().to_string();
            let want = format!("foliolab {} ({hash} ", env!("CARGO_PKG_VERSION"));
            assert!(
                out.starts_with(&want),
                "{out:?} does not start with {want:?}"
            );
        }
        _ => {
            eprintln!("skipped the commit comparison: no git repository here");
            assert!(out.starts_with("foliolab "), "{out}");
        }
    }
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(&["completions", shell], b"");
        assert_eq!(code, 0, "{shell}: {err}");
        for word in [
            "compare",
            "completions",
            "--scheme",
            "linux-6.18",
            "rfc-2026",
        ] {
            assert!(out.contains(word), "{shell} completions lack {word}");
        }
        assert!(
            !out.contains("__probe-helper"),
            "{shell}: internal command offered"
        );
        if !tool_available(shell) {
            eprintln!("skipped: {shell} is not installed, its syntax check did not run");
            continue;
        }
        let path = std::env::temp_dir().join(format!("foliolab-{}.{shell}", std::process::id()));
        std::fs::write(&path, &out).unwrap();
        let status = Command::new(shell).arg("-n").arg(&path).status().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(status.success(), "{shell} -n rejects the completions");
    }
    let (code, _, _) = run(&["completions", "powershell-9"], b"");
    assert_eq!(code, 2, "an unknown shell is a usage error");
}

#[test]
fn manual_pages_from_the_argument_definitions() {
    let (code, out, err) = run(&["man"], b"");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(".ie") || out.contains(".TH foliolab 1"),
        "{out}"
    );
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH SUBCOMMANDS", ".SH VERSION"] {
        assert!(out.contains(section), "man page lacks {section}");
    }
    let dir = std::env::temp_dir().join(format!("foliolab-man-{}", std::process::id()));
    let (code, _, err) = run(&["man", "--dir", dir.to_str().unwrap()], b"");
    assert_eq!(code, 0, "{err}");
    for page in [
        "foliolab.1",
        "foliolab-run.1",
        "foliolab-check.1",
        "foliolab-report.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_default();
        assert!(text.contains(".SH NAME"), "{page} missing or empty");
    }
    assert!(!dir.join("foliolab-__probe-helper.1").exists());
    let run_page = std::fs::read_to_string(dir.join("foliolab-run.1")).unwrap();
    assert!(run_page.contains("linux\\-6.18") || run_page.contains("linux-6.18"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn scheme_values_are_listed_in_help() {
    for cmd in ["run", "check", "compare", "fuzz"] {
        let (code, out, _) = run(&[cmd, "--help"], b"");
        assert_eq!(code, 0);
        assert!(
            out.contains("possible values: linux-5.7") && out.contains("exact"),
            "{cmd} --help does not list the schemes:\n{out}"
        );
    }
    let (code, _, err) = run(&["check", "--scheme", "rfc-2062", "-"], b"");
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `rfc-2026`?"), "{err}");
}

const PASSING: &str = "scenario 1\nspawn p\np: map a 64K\np: write a 0x1\np: expect a == 0x1\n";
const FAILING: &str = "scenario 1\nspawn p\np: map a 4K\np: write a 1\np: expect a == 0x2\n";

#[test]
fn tap_output_is_kselftest_style() {
    let dir = std::env::temp_dir().join(format!("foliolab-tap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("pass.scn"), PASSING).unwrap();
    std::fs::write(dir.join("fail.scn"), FAILING).unwrap();
    std::fs::write(dir.join("bad.scn"), "scenario 1\nfrob\n").unwrap();
    let args = ["run", "--format", "tap", "pass.scn", "fail.scn", "bad.scn"];
    let (code, out, _) = support::run_in(&dir, &args, b"");
    assert_eq!(code, 2, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["TAP version 13", "1..3"], "{out}");
    let points: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("ok ") || l.starts_with("not ok "))
        .collect();
    assert_eq!(
        points,
        [
            "ok 1 pass.scn",
            "not ok 2 fail.scn",
            "not ok 3 bad.scn # error (invalid or could not run)"
        ]
    );
    assert_eq!(
        lines.last().copied(),
        Some("# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:0 error:1")
    );
    for l in &lines[2..] {
        let point = l.starts_with("ok ") || l.starts_with("not ok ");
        assert!(point || l.starts_with("# ") || *l == "#", "not TAP: {l:?}");
    }
    assert!(out.contains("#    5 FAIL  p: expect a == 0x2"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tap_skips_what_the_runner_cannot_perform() {
    // check refuses an invalid file before it needs the kernel: a TAP stream without root.
    let (code, out, _) = run(&["check", "--format", "tap", "-"], b"scenario 1\nfrob\n");
    assert_eq!(code, 2);
    assert!(out.starts_with("TAP version 13\n1..1\n"), "{out}");
    assert!(out.contains("not ok 1 <stdin> # error"), "{out}");
    assert!(
        out.ends_with("# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:0 error:1\n"),
        "{out}"
    );
}
