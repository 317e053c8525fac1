//! The checks on what a statement touched agree with the full check: every repository
//! scenario runs under every design with both checks after every statement (the runner
//! panics when their problem lists or the kept and full recounts differ), and its records
//! are the same whichever check runs. A statement whose marks are lost is caught.

use foliolab_driver::{
    check_supported, drive, render_json, Hooked, Problem, Record, RunError, Runner, StatementHooks,
};
use foliolab_scenario::{parse, validate, Scenario, Stmt};
use foliolab_schemes::registry;
use foliolab_sim::ModelRunner;
use foliolab_testkit::scenarios_below;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// Every valid scenario of the repository (examples and tests, recursively).
fn scenarios() -> Vec<(PathBuf, Scenario)> {
    scenarios_below(&["examples", "tests"], 850)
        .into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let s = parse(&p.display().to_string(), &text).ok()?;
            validate(&s).ok()?;
            Some((p, s))
        })
        .collect()
}

/// The run's records as JSON lines; the panic message if the run panicked.
fn records(s: &Scenario, mut runner: impl Runner) -> Result<Vec<String>, String> {
    if !check_supported(s, &runner).is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    catch_unwind(AssertUnwindSafe(|| {
        drive(s, &mut runner, &mut |r: &Record| out.push(render_json(r)));
    }))
    .map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|m| m.to_string()))
            .unwrap_or_default()
    })?;
    Ok(out)
}

fn runner(scheme: &str, full: bool, agreement: bool) -> ModelRunner {
    let mut r = ModelRunner::new(scheme).unwrap();
    r.full_check = full;
    r.check_agreement = agreement;
    r
}

#[test]
fn both_checks_agree_after_every_statement_of_every_scenario_under_every_design() {
    let all = scenarios();
    let mut failures = Vec::new();
    let mut runs = 0;
    for name in registry::names() {
        for (path, s) in &all {
            runs += 1;
            if let Err(m) = records(s, runner(name, false, true)) {
                failures.push(format!("{} under {name}: {m}", path.display()));
            }
        }
    }
    assert!(runs >= 8000, "only {runs} runs");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_run_prints_the_same_records_whichever_check_runs() {
    let mut differ = Vec::new();
    for (path, s) in scenarios() {
        for name in ["linux-6.18", "linux-6.1", "vma-count"] {
            let touched = records(&s, runner(name, false, false));
            let full = records(&s, runner(name, true, false));
            if touched != full {
                differ.push(format!("{} under {name}", path.display()));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// Loses every mark a statement made, as a statement whose hooks are missing would: the
/// kept recount falls behind the page tables.
struct LosesMarks;

impl StatementHooks<ModelRunner> for LosesMarks {
    fn perform(&mut self, inner: &mut ModelRunner, stmt: &Stmt) -> Result<(), RunError> {
        let r = inner.perform(stmt);
        inner.model_mut().clear_touched();
        r
    }
}

#[test]
fn lost_marks_are_caught_by_the_agreement_check() {
    let text = "scenario 1\nspawn p\np: map a 64K\np: write a 0x1\np: fork c\nc: write a 0x2\n";
    let s = parse("lost.scn", text).unwrap();
    validate(&s).unwrap();
    let caught = records(
        &s,
        Hooked::new(runner("linux-6.18", false, true), LosesMarks),
    );
    let m = caught.expect_err("the agreement check must panic");
    assert!(m.contains("agreement"), "{m}");
    // The same runner keeping its marks agrees.
    assert!(records(&s, runner("linux-6.18", false, true)).is_ok());
}

/// Many processes sharing folios: a parent forks children that write, unmap, swap, fork
/// and exit among others that stay quiet, so the checks visit the touched processes alone.
fn many_processes() -> Scenario {
    let mut text = String::from(
        "scenario 1\nthp 64K=always\nswap 64M\nspawn p\np: map a 64K\np: map b 2M\n\
         p: advise b hugepage\np: map s 64K shmem\np: write a 0x1\np: write b 0x2\n\
         p: write s 0x3\n",
    );
    for i in 0..48 {
        text += &format!("p: fork c{i}\n");
        match i % 6 {
            0 => text += &format!("c{i}: write a 0x{i:x}\n"),
            1 => text += &format!("c{i}: unmap b\n"),
            2 => text += &format!("c{}: exit\n", i - 2),
            3 => text += &format!("c{i}: fork g{i}\ng{i}: write b 0x5\n"),
            4 => text += &format!("c{i}: advise b pageout\np: write s 0x7\n"),
            _ => text += &format!("c{i}: migrate a\nc{i}: protect b r\n"),
        }
    }
    text +=
        "p: write a 0x9\ng3: expect b == 0x5\nc47: expect a == 0x1\np: expect a == 0x9\np: exit\n";
    let s = parse("many.scn", &text).unwrap();
    validate(&s).unwrap();
    s
}

/// Asserts that a run of `many_processes` under `name` went through with its three
/// expectations passing.
fn assert_three_passes(name: &str, r: Result<Vec<String>, String>) {
    assert!(r.is_ok(), "under {name}: {r:?}");
    let passed = r
        .unwrap()
        .iter()
        .filter(|l| l.contains(r#""result":"pass""#))
        .count();
    assert_eq!(passed, 3, "under {name}: the run stopped early or failed");
}

#[test]
fn both_checks_agree_with_many_processes_under_every_design() {
    let s = many_processes();
    for name in registry::names() {
        assert_three_passes(name, records(&s, runner(name, false, true)));
    }
}

/// Leaves some statements unchecked, as a run without checks would, before checking again:
/// the checks then start from "every process". Counts the statements.
struct SometimesUnchecked(u64);

impl StatementHooks<ModelRunner> for SometimesUnchecked {
    fn after_statement(&mut self, inner: &mut ModelRunner, stmt: &Stmt) -> Vec<Problem> {
        self.0 += 1;
        // Runs of one, two and three unchecked statements between checked ones.
        inner.check_every_statement = !matches!(self.0 % 7, 1 | 3 | 4 | 5);
        inner.after_statement(stmt)
    }
}

#[test]
fn both_checks_agree_after_unchecked_statements_with_many_processes() {
    let s = many_processes();
    for name in ["linux-6.18", "linux-6.1", "vma-count", "exact"] {
        let r = records(
            &s,
            Hooked::new(runner(name, false, true), SometimesUnchecked(0)),
        );
        assert_three_passes(name, r);
    }
}
