//! A shrunk failure as a regression scenario: `tests/regressions/NNNN-short-name.scn` with a
//! header saying where it came from. The CLI lists the directory and writes the file.

use crate::exec::{shape, Failure};
use foliolab_scenario::{Item, Scenario};

/// `NNNN-short-name.scn` after the highest number among `existing` file names.
pub fn file_name(existing: &[String], failure: &Failure) -> String {
    let last = existing
        .iter()
        .filter_map(|n| n.get(..4)?.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    format!("{:04}-{}.scn", last + 1, slug(failure))
}

/// `invariant-large-mapcount-page`: the kind and the first words of the message.
pub fn slug(failure: &Failure) -> String {
    let shaped = shape(&failure.message).to_ascii_lowercase();
    let words: Vec<&str> = shaped
        .split(|c: char| !c.is_ascii_lowercase())
        .filter(|w| w.len() > 2 && !matches!(*w, "pfn" | "linux" | "the" | "and"))
        .take(3)
        .collect();
    let mut s = failure.kind.name().to_string();
    for w in words {
        s.push('-');
        s.push_str(w);
    }
    s
}

/// The scenario with header comments: origin, failure, how to replay.
pub fn text(scenario: &Scenario, failure: &Failure, origin: &str) -> String {
    let mut s = scenario.clone();
    let header = [
        format!(" Found by foliolab fuzz: {origin}."),
        format!(
            " Failed under {} ({}) at line {}: {}",
            failure.scheme,
            failure.kind.name(),
            failure.line,
            failure.message.replace('\n', " ")
        ),
        format!(" Replay: foliolab run --scheme {} FILE", failure.scheme),
    ];
    let comments = header
        .into_iter()
        .enumerate()
        .map(|(i, text)| Item::Comment {
            line: i as u32 + 1,
            text,
        });
    s.items.splice(0..0, comments);
    foliolab_scenario::print(&s)
}
