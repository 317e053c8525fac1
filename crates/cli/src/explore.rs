//! `foliolab explore`: the race explorer (`foliolab-explore`). Exhaustive to a preemption
//! bound by default, PCT-random with `--random`; a violation prints its trace and the
//! command that replays it. Times are wall-clock on this machine (shared with others: treat
//! them as orders of magnitude).

use anyhow::{bail, Context};
use clap::Args;
use foliolab_explore::races::{self, Race, Variant};
use foliolab_explore::{dfs::Limits, pct::Campaign, CaseResult, Mode};
use std::time::Instant;

#[derive(Args)]
pub struct ExploreArgs {
    /// The race to explore (see --list).
    pub race: Option<String>,
    /// List the races, their cases, designs and variants.
    #[arg(long)]
    pub list: bool,
    /// Designs to explore under (repeatable; default: every design the race concerns).
    #[arg(long)]
    pub scheme: Vec<String>,
    /// The variant of the code paths (default: kernel).
    #[arg(long, default_value = "kernel")]
    pub variant: String,
    /// Only this case.
    #[arg(long)]
    pub case: Option<String>,
    /// Preemptions per execution (default: the race's bound).
    #[arg(long)]
    pub bound: Option<u32>,
    /// Explore every interleaving, without merging executions that reach the same state.
    #[arg(long)]
    pub no_hashing: bool,
    /// PCT random schedules instead of the exhaustive search.
    #[arg(long)]
    pub random: bool,
    /// Random mode: campaign seed (decimal, 0x-hex or a commit id; default: the clock).
    #[arg(long)]
    pub seed: Option<String>,
    /// Random mode: schedules per case.
    #[arg(long, default_value_t = 10_000)]
    pub runs: u64,
    /// Random mode: the bug depth PCT aims at.
    #[arg(long, default_value_t = 3)]
    pub depth: u32,
    /// Replay this schedule (needs --case and a single --scheme) and print its trace.
    #[arg(long)]
    pub replay: Option<String>,
    /// One JSON object per case and design.
    #[arg(long)]
    pub json: bool,
}

pub fn explore(args: ExploreArgs) -> anyhow::Result<u8> {
    match explore_inner(args) {
        // A closed pipe (`| head`) ends the output quietly, as ripgrep does.
        Err(e) if is_broken_pipe(&e) => Ok(0),
        other => other,
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// One line to standard output; a write error (a closed pipe) is returned, not a panic.
fn emit(line: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")
}

fn explore_inner(args: ExploreArgs) -> anyhow::Result<u8> {
    if args.list {
        list()?;
        return Ok(0);
    }
    let Some(name) = &args.race else {
        bail!("name a race (foliolab explore --list shows them)");
    };
    let race = races::by_name(name)
        .with_context(|| format!("unknown race {name:?} (foliolab explore --list)"))?;
    let variant = race
        .variant(&args.variant)
        .with_context(|| format!("race {name} has no variant {:?}", args.variant))?;
    let designs = designs(race, &variant, &args.scheme)?;
    if let Some(schedule) = &args.replay {
        return replay(race, &variant, &designs, &args, schedule);
    }
    let mode = mode(race, &args)?;
    header(race, &variant, mode, &args)?;
    let mut violations = 0;
    for d in &designs {
        for case in case_names(race, &variant, d, args.case.as_deref())? {
            let t = Instant::now();
            let results = foliolab_explore::explore(race, &variant, d, Some(case), mode)?;
            let secs = t.elapsed().as_secs_f64();
            for r in &results {
                violations += print_result(race, &variant, r, secs, &args)?;
            }
        }
    }
    Ok(u8::from(violations > 0))
}

fn case_names(
    race: &Race,
    v: &Variant,
    design: &str,
    only: Option<&str>,
) -> anyhow::Result<Vec<&'static str>> {
    let design = foliolab_explore::design_for(v, design);
    let all: Vec<&'static str> = (race.cases)(v, design).iter().map(|c| c.name).collect();
    match only {
        None => Ok(all),
        Some(c) => match all.iter().find(|&&n| n == c) {
            Some(&n) => Ok(vec![n]),
            None => bail!(
                "race {} has no case {c:?} (cases: {})",
                race.name,
                all.join(", ")
            ),
        },
    }
}

fn designs(race: &Race, v: &Variant, asked: &[String]) -> anyhow::Result<Vec<String>> {
    if let Some(d) = v.design {
        return Ok(vec![d.to_string()]);
    }
    if asked.is_empty() {
        return Ok(race.designs.iter().map(|s| s.to_string()).collect());
    }
    for a in asked {
        if !race.designs.contains(&a.as_str()) {
            bail!(
                "race {} does not concern design {a:?} (it concerns: {})",
                race.name,
                race.designs.join(", ")
            );
        }
    }
    Ok(asked.to_vec())
}

fn mode(race: &Race, args: &ExploreArgs) -> anyhow::Result<Mode> {
    if !args.random {
        return Ok(Mode::Exhaustive(Limits {
            bound: args.bound.unwrap_or(race.bound),
            state_hashing: !args.no_hashing,
        }));
    }
    let seed = match &args.seed {
        Some(s) => foliolab_fuzz::parse_seed(s).with_context(|| format!("bad seed {s:?}"))?,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    };
    Ok(Mode::Random(Campaign {
        seed,
        runs: args.runs,
        depth: args.depth,
    }))
}

fn header(race: &Race, v: &Variant, mode: Mode, args: &ExploreArgs) -> std::io::Result<()> {
    if args.json {
        return Ok(());
    }
    emit(&format!("race {}: {}", race.name, race.title))?;
    emit(&format!("variant {}: {}", v.name, v.about))?;
    emit(&match mode {
        Mode::Exhaustive(l) => format!(
            "exhaustive, preemption bound {}, state hashing {}",
            l.bound,
            if l.state_hashing { "on" } else { "off" }
        ),
        Mode::Random(c) => format!(
            "random (PCT depth {}), {} runs per case, seed {:#x}: replay with --random --seed \
             {:#x} --runs {}",
            c.depth, c.runs, c.seed, c.seed, c.runs
        ),
    })?;
    emit(&format!(
        "{:<14} {:<15} {:>7} {:>8} {:>9} {:>7} {:>8}  verdict",
        "case", "scheme", "execs", "states", "steps", "pruned", "time"
    ))
}

fn print_result(
    race: &Race,
    v: &Variant,
    r: &CaseResult,
    secs: f64,
    args: &ExploreArgs,
) -> anyhow::Result<u32> {
    let s = &r.outcome.stats;
    if args.json {
        emit(&json(race, r, secs).to_string())?;
    } else {
        let verdict = match &r.outcome.violation {
            None => "safe".to_string(),
            Some(f) => format!("VIOLATION: {}", f.message),
        };
        emit(&format!(
            "{:<14} {:<15} {:>7} {:>8} {:>9} {:>7} {:>7.2}s  {verdict}",
            r.case, r.design, s.executions, s.states, s.steps, s.pruned, secs
        ))?;
        for (what, n) in &r.outcome.observations {
            emit(&format!("    seen: {what} ({n})"))?;
        }
    }
    let Some(found) = &r.outcome.violation else {
        return Ok(0);
    };
    let trace = foliolab_explore::replay(
        race,
        v,
        &r.design,
        r.case,
        &foliolab_explore::trace::encode(&found.schedule),
    )?;
    if !args.json {
        emit(foliolab_explore::trace::render(&trace).trim_end())?;
        if let Some(run) = r.failing_run {
            emit(&format!("    found by random run {run}"))?;
        }
        emit(&format!(
            "    replay: {}",
            foliolab_explore::replay_command(race, r, &found.schedule)
        ))?;
    }
    Ok(1)
}

fn json(race: &Race, r: &CaseResult, secs: f64) -> serde_json::Value {
    let s = &r.outcome.stats;
    serde_json::json!({
        "race": race.name,
        "case": r.case,
        "scheme": r.design,
        "variant": r.variant,
        "executions": s.executions,
        "states": s.states,
        "steps": s.steps,
        "pruned": s.pruned,
        "complete": s.complete,
        "seconds": secs,
        "violation": r.outcome.violation.as_ref().map(|f| f.message.clone()),
        "schedule": r.outcome.violation.as_ref()
            .map(|f| foliolab_explore::trace::encode(&f.schedule)),
        "observations": r.outcome.observations,
    })
}

fn replay(
    race: &Race,
    v: &Variant,
    designs: &[String],
    args: &ExploreArgs,
    schedule: &str,
) -> anyhow::Result<u8> {
    let Some(case) = &args.case else {
        bail!("--replay needs --case");
    };
    let [design] = designs else {
        bail!("--replay needs exactly one --scheme");
    };
    let trace = foliolab_explore::replay(race, v, design, case, schedule)?;
    emit(foliolab_explore::trace::render(&trace).trim_end())?;
    let violated = trace.iter().any(|l| {
        l.events
            .iter()
            .any(|e| matches!(e, foliolab_explore::world::Event::Violation(_)))
    });
    Ok(u8::from(violated))
}

fn list() -> std::io::Result<()> {
    for race in races::all() {
        emit(&format!("{}: {}", race.name, race.title))?;
        emit(&format!(
            "  bound {}; designs: {}",
            race.bound,
            race.designs.join(", ")
        ))?;
        for v in race.variants() {
            let tag = match (v.test_only, v.unsafe_variant) {
                (true, true) => " [test-only, unsafe]",
                (true, false) => " [test-only]",
                (false, _) => "",
            };
            emit(&format!("  variant {}{tag}: {}", v.name, v.about))?;
        }
        let first = race.variants()[0];
        for c in (race.cases)(&first, race.designs[0]) {
            emit(&format!("  case {}: {}", c.name, c.about))?;
        }
    }
    Ok(())
}
