//! The `foliolab` binary end to end: exit statuses and messages for good and bad scenarios.

mod support;

use std::path::PathBuf;
use std::process::Command;

fn write_tmp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("foliolab-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run(args: &[&str]) -> (i32, String) {
    support::run_merged(args)
}

fn run_text(name: &str, text: &str) -> (i32, String) {
    let p = write_tmp(name, text);
    run(&["run", p.to_str().unwrap()])
}

#[test]
fn built_in_examples_pass() {
    let (code, out) = run(&["run", "--quiet"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.matches("exit 0").count() >= 10, "{out}");
}

#[test]
fn unknown_statement_is_invalid_with_position() {
    let (code, out) = run_text("u.scn", "scenario 1\nspawn p\np: frobnicate a\n");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("u.scn:3:4: unknown statement"), "{out}");
}

#[test]
fn bad_number_is_invalid() {
    let (code, out) = run_text("n.scn", "scenario 1\nspawn p\np: map a 12Q\n");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("n.scn:3:10:"), "{out}");
    assert!(out.contains("`12Q`"), "{out}");
}

#[test]
fn range_outside_region_is_invalid() {
    let (code, out) = run_text(
        "r.scn",
        "scenario 1\nspawn p\np: map a 64K\np: write a[60K..68K] 1\n",
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("r.scn:4:10:"), "{out}");
    assert!(out.contains("outside"), "{out}");
}

#[test]
fn reused_name_is_invalid() {
    let (code, out) = run_text("d.scn", "scenario 1\nspawn p\np: exit\nspawn p\n");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("d.scn:4:7:"), "{out}");
}

#[test]
fn use_after_exit_is_invalid() {
    let (code, out) = run_text(
        "x.scn",
        "scenario 1\nspawn p\np: map a 4K\np: exit\np: write a 1\n",
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("x.scn:5:1:"), "{out}");
    assert!(out.contains("exit"), "{out}");
}

#[test]
fn write_to_read_only_page_is_a_run_error() {
    let (code, out) = run_text(
        "ro.scn",
        "scenario 1\nspawn p\np: map a 8K prot=r\np: write a+4K 1\n",
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("ro.scn:4:1:"), "{out}");
    assert!(out.contains("SIGSEGV"), "{out}");
}

#[test]
fn access_to_a_hole_is_a_run_error() {
    let (code, out) = run_text(
        "h.scn",
        "scenario 1\nspawn p\np: map a 8K\np: unmap a+0\np: read a\n",
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("h.scn:5:1:") && out.contains("no mapping"),
        "{out}"
    );
}

#[test]
fn failed_expectation_exits_1_with_expected_and_observed() {
    let (code, out) = run_text(
        "f.scn",
        "scenario 1\nspawn p\np: map a 4K\np: write a 1\np: expect a mapcount == 2\n",
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL") && out.contains("expected 2"), "{out}");
}

#[test]
fn file_and_driver_statements_run_on_the_model() {
    // Every statement of format 1 is modelled: nothing is unsupported (exit 3) any more.
    let (code, out) = run_text(
        "s.scn",
        "scenario 1\nfile f 4K\nspawn p\np: map a 4K file f shared\np: write a 1\n\
         p: map d 8K driver mixedmap\np: expect d mapcount == 1\np: expect a == 1\n",
    );
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("unsupported"), "{out}");
}

#[test]
fn json_lines_end_with_a_summary() {
    let p = write_tmp(
        "j.scn",
        "scenario 1\nspawn p\np: map a 4K\np: write a 1\np: expect a == 1\n",
    );
    let (code, out) = run(&["run", "--json", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(last["kind"], "summary");
    assert_eq!(last["runner"], "model:linux-6.18");
    assert_eq!(last["exit"], 0);
    assert_eq!(last["pass"], 1);
}

/// `foliolab fuzz`: the first line is the seed, the commit and the replay command; a commit
/// id is a seed; two runs print the same lines except `timing:`/`progress:`.
#[test]
fn fuzz_prints_seed_first_and_is_reproducible() {
    let commit = "8a5cf95e0d6c3f0b2a1e4d7c9b8a7f6e5d4c3b2a";
    let args = [
        "fuzz",
        "--seed",
        commit,
        "--seeds",
        "4",
        "--steps",
        "40",
        "--no-shrink",
        "--jobs",
        "2",
    ];
    let (code, a) = run(&args);
    assert_eq!(code, 0, "{a}");
    let first = a.lines().next().unwrap();
    assert!(
        first.starts_with("fuzz: seed=0x8a5cf95e0d6c3f0b commit="),
        "{first}"
    );
    assert!(
        first.contains("replay: foliolab fuzz --seed 0x8a5cf95e0d6c3f0b --steps 40"),
        "{first}"
    );
    assert!(a.contains("summary: 4 cases"), "{a}");
    let mix = a
        .lines()
        .find(|l| l.starts_with("mix: "))
        .expect("a mix line");
    let total: u64 = mix["mix: ".len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("mix total");
    let counted: u64 = mix
        .split(": ")
        .nth(2)
        .expect("mix rows")
        .split(", ")
        .map(|row| {
            row.split(' ')
                .nth(1)
                .and_then(|n| n.parse::<u64>().ok())
                .expect(row)
        })
        .sum();
    assert_eq!(total, counted, "{mix}");
    assert!(total >= 4 * 40, "every generated statement counted: {mix}");
    let timing = a
        .lines()
        .find(|l| l.starts_with("timing: "))
        .expect("timing");
    assert!(
        timing.contains("statements/s per core (2 jobs)"),
        "{timing}"
    );
    let (_, b) = run(&args);
    let stable = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| !l.starts_with("timing:") && !l.starts_with("progress:"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(stable(&a), stable(&b));
}

#[test]
fn fuzz_rejects_a_bad_shard() {
    let (code, out) = run(&["fuzz", "--seed", "1", "--shard", "3/3"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("need 0 <= I < N"), "{out}");
}

/// `run --scheme X --show`: every expectation with what linux-6.18 and X answer, where a
/// plain run under X skips it. NO_PAGE_MAPCOUNT calls c2's page shared (its MM_ID bit is
/// sticky and it has no per-page count); 6.18 answers exclusive from the per-page count.
#[test]
fn run_show_prints_both_designs_answers() {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/maybe-shared-three.scn"
    );
    let (code, plain) = run(&["run", "--scheme", "linux-6.18-npm", p]);
    assert_eq!(code, 0, "{plain}");
    assert!(
        plain.contains("17 skip  c2: expect a exclusive (scheme)"),
        "{plain}"
    );
    let (code, out) = run(&["run", "--scheme", "linux-6.18-npm", "--show", p]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("linux-6.18-npm next to linux-6.18"), "{out}");
    let at = out
        .find("maybe-shared-three.scn:17: c2: expect a exclusive")
        .expect(&out);
    let block: Vec<&str> = out[at..].lines().take(4).collect();
    assert!(
        block[1].contains("expected") && block[1].contains("exclusive"),
        "{block:?}"
    );
    assert!(
        block[2].contains("linux-6.18 ") && block[2].ends_with("exclusive (pass)"),
        "{block:?}"
    );
    assert!(
        block[3].contains("linux-6.18-npm") && block[3].ends_with("shared (FAIL)"),
        "{block:?}"
    );
    assert!(!out.contains("skip"), "{out}");
    assert!(
        out.contains("answered differently by linux-6.18-npm"),
        "{out}"
    );
}

/// `run --show --kernel K`: both runs perform K's era (its operations), and the design
/// stands next to K's own. On 6.12 a write to a once-shared 64K folio copies it to order-0
/// pages under any design (no large reuse before 6.15); in the 6.18 era linux-6.18 reuses
/// it (order 4 stays), so without `--kernel` its column fails that expectation.
#[test]
fn run_show_runs_the_kernels_era() {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/eras/6.12/cow-no-large-reuse-64k.scn"
    );
    let order = |out: &str| -> Vec<String> {
        let at = out.find("expect a order == 0").expect(out);
        out[at..]
            .lines()
            .skip(2)
            .take(2)
            .map(String::from)
            .collect()
    };
    let args = [
        "run",
        "--scheme",
        "linux-6.18",
        "--show",
        "--kernel",
        "6.12",
        p,
    ];
    let (code, out) = run(&args);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("linux-6.18 next to linux-6.14 (the 6.12 era)"),
        "{out}"
    );
    let rows = order(&out);
    assert!(
        rows[0].contains("linux-6.14") && rows[0].ends_with(": 0 (pass)"),
        "{rows:?}"
    );
    assert!(
        rows[1].contains("linux-6.18") && rows[1].ends_with(": 0 (pass)"),
        "{rows:?}"
    );
    assert!(out.contains("0 answered differently"), "{out}");
    let (_, out) = run(&["run", "--scheme", "linux-6.14", "--show", p]);
    assert!(out.contains("linux-6.14 next to linux-6.18\n"), "{out}");
    let rows = order(&out);
    assert!(
        rows[0].contains("linux-6.18") && rows[0].ends_with(": 4 (FAIL)"),
        "the 6.18 era reuses: {rows:?}"
    );
    assert!(
        rows[1].contains("linux-6.14") && rows[1].ends_with(": 0 (pass)"),
        "{rows:?}"
    );
}

/// `foliolab bench --json`: one valid JSON object, nine rows (three operations of three
/// backings), the model's figures always, the kernel's only when measured, and the reason
/// when not. Structure only: timings are never asserted.
#[test]
fn bench_json_is_valid_and_says_why_the_kernel_was_not_measured() {
    let out = Command::new(env!("CARGO_BIN_EXE_foliolab"))
        .args([
            "bench",
            "--mib",
            "4",
            "--runs",
            "1",
            "--no-kernel",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["kernel_measured"], false);
    assert_eq!(v["kernel_not_measured_because"], "--no-kernel");
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 9);
    for r in rows {
        assert!(r["model_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{r}");
        assert!(r["model_checked_ms"].as_f64().is_some(), "{r}");
        assert!(r["kernel_ms"].is_null() && r["ratio"].is_null(), "{r}");
    }
    assert!(v["model_bytes_per_page"].as_f64().is_some(), "{v}");
    let (code, text) = run(&["bench", "--mib", "3"]);
    assert_eq!(code, 2, "bad arguments: {text}");
    assert!(text.contains("multiple of 2"), "{text}");
}
