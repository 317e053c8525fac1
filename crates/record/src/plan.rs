//! What `foliolab check --sample N` adds to a scenario (a recorded one, usually) so that
//! the model and the kernel can be compared on it: a sample of per-statement observations
//! and the state of every process before it exits and at the end.
//!
//! - after every Nth access (`read`, `write`): `observe` of the page and
//!   `expect faults == 1` (the recording saw one fault there);
//! - before every `exit`, and at the end for every live process: `observe smaps S` of each
//!   of its spaces (version 2) or regions (version 1);
//! - at the end: `observe stats`.
//!
//! Added statements take the line of the statement they follow, so records stay grouped
//! with it.

use foliolab_scenario::*;
use std::collections::BTreeMap;

fn stmt(line: u32, kind: StmtKind) -> Item {
    Item::Stmt(Stmt {
        pos: Pos { line, column: 1 },
        kind,
        comment: None,
    })
}

fn proc_stmt(line: u32, proc: &str, op: ProcOp) -> Item {
    stmt(
        line,
        StmtKind::Proc {
            proc: proc.to_string(),
            op,
        },
    )
}

/// The end-state observations of one process.
fn end_state(line: u32, proc: &str, names: &[String], out: &mut Vec<Item>) {
    for n in names {
        let op = ProcOp::ObserveSmaps { region: n.clone() };
        out.push(proc_stmt(line, proc, op));
    }
}

/// The scenario with the observations above; `every` is N (0: no per-statement samples).
pub fn with_observations(s: &Scenario, every: u64) -> Scenario {
    let mut out = Vec::new();
    // Per live process: the names whose smaps make its end state (spaces, else regions).
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut version = 1;
    let mut accesses = 0u64;
    let mut last_line = 0;
    for item in &s.items {
        let Item::Stmt(st) = item else {
            out.push(item.clone());
            continue;
        };
        let line = st.pos.line;
        last_line = last_line.max(line);
        match &st.kind {
            StmtKind::Scenario { version: v } => version = *v,
            StmtKind::Spawn { proc } => {
                names.insert(proc.clone(), Vec::new());
            }
            StmtKind::Proc { proc, op } => {
                if let ProcOp::Exit = op {
                    let n = names.remove(proc).unwrap_or_default();
                    end_state(line, proc, &n, &mut out);
                }
                track(&mut names, proc, op, version);
            }
            _ => {}
        }
        out.push(item.clone());
        if let StmtKind::Proc { proc, op } = &st.kind {
            let range = match op {
                ProcOp::Read { range } | ProcOp::Write { range, .. } => Some(range),
                _ => None,
            };
            if let Some(r) = range {
                accesses += 1;
                if every > 0 && accesses.is_multiple_of(every) {
                    let obs = ProcOp::Observe { range: r.clone() };
                    out.push(proc_stmt(line, proc, obs));
                    out.push(proc_stmt(line, proc, ProcOp::ExpectFaults { faults: 1 }));
                }
            }
        }
    }
    let end = last_line + 1;
    for (proc, n) in &names {
        end_state(end, proc, n, &mut out);
    }
    out.push(stmt(end, StmtKind::ObserveStats));
    Scenario {
        path: s.path.clone(),
        items: out,
    }
}

fn track(names: &mut BTreeMap<String, Vec<String>>, proc: &str, op: &ProcOp, version: u32) {
    match op {
        ProcOp::Fork { child } => {
            let n = names.get(proc).cloned().unwrap_or_default();
            names.insert(child.clone(), n);
        }
        ProcOp::Space { space, .. } => names.entry(proc.into()).or_default().push(space.clone()),
        ProcOp::Map { region, .. } if version == 1 => {
            names.entry(proc.into()).or_default().push(region.clone())
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_accesses_and_end_states() {
        let text = "scenario 2\nspawn p\np: space s 4M\np: map a 64K at=s+0\np: write a+0 1\n\
                    p: read a+4K\np: fork c\nc: read a+8K\nc: exit\n";
        let s = parse("t.scn", text).unwrap();
        let planned = with_observations(&s, 2);
        validate(&planned).unwrap();
        let printed = print(&planned);
        assert!(printed.contains("p: read a+4K\np: observe a+4K\np: expect faults == 1\n"));
        assert!(printed.contains("c: observe smaps s\nc: exit\n"));
        assert!(printed.ends_with("p: observe smaps s\nobserve stats\n"));
    }
}
