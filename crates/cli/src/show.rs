//! `foliolab run --scheme X --show`: what design X answers at every expectation, next to what
//! the era's own design answers (linux-6.18, this machine's kernel, by default; with
//! `--kernel K`, both run K's era and X stands next to K's design). Both runs check every
//! expectation, whatever schemes the scenario names, so a design's answers are shown where a
//! plain run under X skips them (`skipped(scheme)`).

use foliolab_driver::{
    check_supported, drive_with_policy, ExpectRecord, ExpectResult, Record, SkipPolicy,
};
use foliolab_model::{Era, Generation};
use foliolab_scenario::Scenario;
use foliolab_sim::ModelRunner;
use std::io::{self, Write};

/// One run's expectation records and the reasons it ended early (run errors, problems).
struct Answers {
    expects: Vec<ExpectRecord>,
    problems: Vec<String>,
}

fn answers(s: &Scenario, era: Era, scheme: &str, check: bool) -> Option<Answers> {
    let mut runner = ModelRunner::for_era(era, scheme)?;
    runner.check_every_statement = check;
    if !check_supported(s, &runner).is_empty() {
        return None;
    }
    let mut a = Answers {
        expects: Vec::new(),
        problems: Vec::new(),
    };
    let mut sink = |r: &Record| match r {
        Record::Expect(e) => a.expects.push(e.clone()),
        Record::Problem(p) => a.problems.push(format!("line {}: {}", p.line, p.message)),
        _ => {}
    };
    drive_with_policy(s, &mut runner, &mut sink, Some(SkipPolicy::CheckAll));
    Some(a)
}

fn verdict(e: &ExpectRecord) -> &'static str {
    match e.result {
        ExpectResult::Pass => "pass",
        ExpectResult::Fail => "FAIL",
        ExpectResult::Skipped(_) => "skipped",
    }
}

fn observed(e: &ExpectRecord) -> String {
    match &e.result {
        ExpectResult::Skipped(why) => format!("skipped({why})"),
        _ => e.observed.clone(),
    }
}

/// Prints the expectations side by side, both runs in `era`; the exit status: 0 when both
/// runs completed, 1 when one ended with a problem, 3 when the model cannot run the scenario.
pub fn show(
    name: &str,
    s: &Scenario,
    era: Era,
    scheme: &str,
    check: bool,
    out: &mut dyn Write,
) -> io::Result<u8> {
    let own = era.design;
    let (Some(mine), Some(base)) = (answers(s, era, scheme, check), answers(s, era, own, check))
    else {
        writeln!(out, "{name}: unsupported on the model")?;
        return Ok(3);
    };
    let in_era = if era.generation == Generation::V6_18 {
        String::new()
    } else {
        format!(" (the {} era)", era.generation.name())
    };
    writeln!(out, "== {name}: {scheme} next to {own}{in_era}")?;
    let w = scheme.len().max(own.len());
    for (i, b) in base.expects.iter().enumerate() {
        writeln!(out, "{name}:{}: {}", b.line, b.text)?;
        writeln!(out, "    {:<w$}  {}", "expected", b.expected)?;
        writeln!(out, "    {:<w$}  {} ({})", own, observed(b), verdict(b))?;
        match mine.expects.get(i).filter(|m| m.line == b.line) {
            Some(m) => writeln!(out, "    {:<w$}  {} ({})", scheme, observed(m), verdict(m))?,
            None => writeln!(out, "    {:<w$}  (not reached)", scheme)?,
        }
    }
    let differ = base
        .expects
        .iter()
        .zip(&mine.expects)
        .filter(|(b, m)| observed(b) != observed(m))
        .count();
    writeln!(
        out,
        "{} expectations, {differ} answered differently by {scheme}",
        base.expects.len()
    )?;
    let mut code = 0;
    for (who, a) in [(own, &base), (scheme, &mine)] {
        for p in &a.problems {
            writeln!(out, "{who}: problem: {p}")?;
            code = 1;
        }
    }
    Ok(code)
}
