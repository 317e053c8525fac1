//! Every unsafe variant is caught with a trace, the trace replays to the same violation, and
//! the schedule string round-trips; one trace is pinned in docs/races.md.

mod common;

use common::{designs, run};
use foliolab_explore::races::{self, Race, Variant};
use foliolab_explore::trace::{decode, encode, render};
use foliolab_explore::world::Event;
use foliolab_explore::{replay, replay_command, Error, ScheduleError};

/// The first (design, case) where the variant's violation shows, with its schedule.
fn first_catch(race: &Race, v: &Variant) -> (String, &'static str, Vec<usize>, String) {
    for d in designs(race, v) {
        for r in run(race, v, d) {
            if let Some(f) = r.outcome.violation {
                return (d.to_string(), r.case, f.schedule, f.message);
            }
        }
    }
    panic!("{} {}: no violation under any design", race.name, v.name);
}

#[test]
fn every_unsafe_variant_is_caught_with_a_trace_that_replays() {
    let mut caught = 0;
    for race in races::all() {
        for v in race.variants().into_iter().filter(|v| v.unsafe_variant) {
            let (design, case, schedule, message) = first_catch(race, &v);
            let text = encode(&schedule);
            assert_eq!(decode(&text).unwrap(), schedule);
            let trace = replay(race, &v, &design, case, &text).unwrap();
            assert_eq!(trace.len(), schedule.len(), "{} {}", race.name, v.name);
            let last = trace.last().unwrap();
            assert!(
                last.events.contains(&Event::Violation(message.clone())),
                "{} {}: the replay ends in {:?}, not {message}",
                race.name,
                v.name,
                last.events
            );
            let rendered = render(&trace);
            assert!(rendered.contains(&format!("!! {message}")));
            assert!(rendered.lines().count() > trace.len());
            caught += 1;
        }
    }
    assert!(caught >= 8, "only {caught} unsafe variants");
}

#[test]
fn a_replay_that_stops_early_has_no_violation_and_a_bad_schedule_is_an_error() {
    let race = races::by_name("cow-reuse").unwrap();
    let v = race.variant("reuse-no-lock").unwrap();
    let (design, case, schedule, _) = first_catch(race, &v);
    let prefix = encode(&schedule[..schedule.len() - 1]);
    let trace = replay(race, &v, &design, case, &prefix).unwrap();
    assert!(trace
        .iter()
        .all(|l| l.events.iter().all(|e| !matches!(e, Event::Violation(_)))));
    assert_eq!(
        replay(race, &v, &design, case, "01x"),
        Err(Error::Schedule(ScheduleError::NotADigit { at: 2, ch: 'x' }))
    );
    assert!(matches!(
        replay(race, &v, &design, case, "7"),
        Err(Error::Schedule(ScheduleError::NotRunnable {
            at: 0,
            thread: 7
        }))
    ));
    assert!(matches!(
        replay(race, &v, &design, "nope", "0"),
        Err(Error::UnknownCase { .. })
    ));
}

#[test]
fn the_replay_command_names_everything_needed() {
    let race = races::by_name("zap-no-gather").unwrap();
    let v = race.variant("ryan-v1-no-get").unwrap();
    let results = run(race, &v, "linux-6.18");
    let r = results
        .iter()
        .find(|r| r.outcome.violation.is_some())
        .unwrap();
    let f = r.outcome.violation.as_ref().unwrap();
    assert_eq!(
        replay_command(race, r, &f.schedule),
        format!(
            "foliolab explore zap-no-gather --case last --scheme linux-6.18 --variant \
             ryan-v1-no-get --replay {}",
            encode(&f.schedule)
        )
    );
    assert!(f.message.contains("freed while mapped"), "{}", f.message);
}

/// The trace docs/races.md shows for the reuse without the large-mapcount lock.
#[test]
fn the_documented_trace_is_what_the_explorer_prints() {
    let race = races::by_name("cow-reuse").unwrap();
    let v = race.variant("reuse-no-lock").unwrap();
    let r = foliolab_explore::explore(
        race,
        &v,
        "linux-6.18",
        Some("migrate"),
        foliolab_explore::Mode::Exhaustive(foliolab_explore::Limits {
            bound: race.bound,
            state_hashing: true,
        }),
    )
    .unwrap();
    let f = r[0].outcome.violation.as_ref().expect("caught");
    let trace = replay(race, &v, "linux-6.18", "migrate", &encode(&f.schedule)).unwrap();
    let text = render(&trace);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/races.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let open = "<!-- trace:reuse-no-lock -->\n```\n";
    let start = doc.find(open).map(|i| i + open.len());
    let end = doc.find("```\n<!-- /trace:reuse-no-lock -->");
    let shown = match (start, end) {
        (Some(s), Some(e)) if s <= e => &doc[s..e],
        _ => "",
    };
    assert_eq!(
        shown, text,
        "docs/races.md's trace is out of date; it should be:\n{text}"
    );
}
