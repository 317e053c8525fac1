//! Readable traces of an interleaving, and the schedule string that replays it.
//!
//! A schedule is the sequence of threads that ran, one digit per step (`0120`). Replaying it
//! on a fresh world runs the same steps in the same order, so a violation found by the
//! exhaustive search or by a random run is reproduced by `foliolab explore RACE --case C
//! --scheme S --variant V --replay SCHEDULE`.

use crate::exec::{Case, Exec};
use crate::locks::{mm_name, Mode};
use crate::step::Tid;
use crate::world::{va, Event, Knobs, World, VA_PAGES};
use foliolab_mem::PageFlags;
use std::fmt::Write;

/// One line of a trace: who ran which step, what it held afterwards, and the state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceLine {
    pub index: usize,
    pub thread: Tid,
    pub thread_name: String,
    pub step: String,
    pub locks: String,
    pub state: String,
    pub events: Vec<Event>,
}

/// Why a schedule string cannot be replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScheduleError {
    /// A character that is not a thread digit.
    NotADigit { at: usize, ch: char },
    /// The thread does not exist, has finished or waits for a lock at this point.
    NotRunnable { at: usize, thread: Tid },
}

impl std::fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScheduleError::NotADigit { at, ch } => {
                write!(f, "schedule position {at}: {ch:?} is not a thread number")
            }
            ScheduleError::NotRunnable { at, thread } => write!(
                f,
                "schedule position {at}: thread {thread} cannot run there (finished, waiting \
                 or absent)"
            ),
        }
    }
}

impl std::error::Error for ScheduleError {}

pub fn encode(schedule: &[Tid]) -> String {
    schedule
        .iter()
        .map(|&t| char::from_digit(t as u32, 10).expect("at most 10 threads"))
        .collect()
}

pub fn decode(s: &str) -> Result<Vec<Tid>, ScheduleError> {
    s.chars()
        .enumerate()
        .map(|(at, ch)| {
            ch.to_digit(10)
                .map(|d| d as Tid)
                .ok_or(ScheduleError::NotADigit { at, ch })
        })
        .collect()
}

/// Replays `schedule` on a fresh world and returns one line per step; stops after the first
/// step that reports a violation.
pub fn replay(
    case: &Case,
    design: &str,
    knobs: Knobs,
    schedule: &[Tid],
) -> Result<Vec<TraceLine>, crate::Error> {
    let mut ex = Exec::new(case, design, knobs)?;
    let mut out = Vec::new();
    for (i, &t) in schedule.iter().enumerate() {
        if !ex.enabled().contains(&t) {
            return Err(ScheduleError::NotRunnable { at: i, thread: t }.into());
        }
        let step = ex.next_step_name(t);
        let events = ex.step(t);
        let stop = events.iter().any(|e| matches!(e, Event::Violation(_)));
        out.push(TraceLine {
            index: i + 1,
            thread: t,
            thread_name: case.threads[t].name.clone(),
            step,
            locks: locks_of(&ex.world, t),
            state: summary(&ex.world),
            events,
        });
        if stop {
            break;
        }
    }
    Ok(out)
}

fn locks_of(w: &World, t: Tid) -> String {
    let held: Vec<String> = w
        .locks
        .held_by(t)
        .iter()
        .map(|(l, m)| match m {
            Mode::Shared => format!("{l}r"),
            Mode::Exclusive => l.to_string(),
        })
        .collect();
    if held.is_empty() {
        "-".into()
    } else {
        held.join(",")
    }
}

/// The state a trace line shows: each live folio's refcount and the design's counters,
/// every MM's PTEs over the race's range, stale TLB entries and GUP references.
pub fn summary(w: &World) -> String {
    let mut s = String::new();
    for &head in &w.live {
        let f = w.folio(head);
        let c = w.design.counters(f);
        let _ = write!(
            s,
            "{:#x}/{}: ref={}",
            head.0,
            f.nr_pages(),
            w.refcount(head)
        );
        let _ = write!(s, " map={}", w.design.mapcount(f, &w.mem));
        for (k, slot) in [c.slot0, c.slot1].iter().enumerate() {
            if let Some(Some((id, n))) = slot {
                let _ = write!(s, " slot{k}={}:{n}", mm_name(id.0 as u8 - 1));
            }
        }
        if c.maybe_shared == Some(true) && f.is_large() {
            s.push_str(" S");
        }
        if f.order.0 >= 2
            && w.mem
                .page(head.add(1))
                .flags
                .has(PageFlags::PARTIALLY_MAPPED)
        {
            s.push_str(" pm");
        }
        if let Some(words) = w.mmid.get(&head) {
            let _ = write!(
                s,
                " steps:L={}{}",
                words.large(),
                if words.shared() { ",S" } else { "" }
            );
        }
        s.push_str("; ");
    }
    for (m, a) in w.mms.iter().enumerate() {
        let _ = write!(s, "{}:", mm_name(m as u8));
        for i in 0..VA_PAGES.min(8) {
            s.push(pte_char(w, m as u8, a.pt.pte(va(i))));
        }
        s.push(' ');
    }
    let tlb = w.tlb.len();
    if tlb > 0 {
        let _ = write!(s, "tlb-stale={tlb} ");
    }
    for h in &w.holds {
        let _ = write!(s, "gup:{}->{:#x} ", mm_name(h.mm), h.page.0);
    }
    s.trim_end().to_string()
}

fn pte_char(w: &World, _mm: u8, p: foliolab_mem::Pte) -> char {
    if p.is_none() {
        return '-';
    }
    if p.is_swap() {
        return 'm';
    }
    let in_focus = w.mem.folio_of(p.pfn()) == w.focus;
    match (p.writable(), in_focus) {
        (true, true) => 'W',
        (false, true) => 'R',
        (true, false) => 'w',
        (false, false) => 'r',
    }
}

/// Formats a trace as aligned text.
pub fn render(lines: &[TraceLine]) -> String {
    let wt = lines.iter().map(|l| l.thread_name.len()).max().unwrap_or(0);
    let ws = lines
        .iter()
        .map(|l| l.step.len())
        .max()
        .unwrap_or(0)
        .min(56);
    let wl = lines
        .iter()
        .map(|l| l.locks.len())
        .max()
        .unwrap_or(0)
        .min(40);
    let mut out = String::new();
    for l in lines {
        let _ = writeln!(
            out,
            "{:>3}  T{} {:<wt$}  {:<ws$}  {:<wl$}  {}",
            l.index, l.thread, l.thread_name, l.step, l.locks, l.state
        );
        for e in &l.events {
            match e {
                Event::Violation(v) => {
                    let _ = writeln!(out, "     !! {v}");
                }
                Event::Observe(o) => {
                    let _ = writeln!(out, "     .. {o}");
                }
            }
        }
    }
    out
}
