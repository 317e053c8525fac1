//! What the seeded-fault tests of small and large folios (`small_folio_faults.rs`,
//! `large_folio_faults.rs`) share: the pages the first process maps, and the problems the
//! checks find after a scenario's last statement with a fault seeded just before them.

use foliolab_driver::Runner;
use foliolab_mem::PmdEntry;
use foliolab_scenario::Scenario;
use foliolab_sim::ModelRunner;
use foliolab_types::Pfn;

/// The PFNs the first process's present PTEs map, in address order.
pub fn first_process_pfns(r: &ModelRunner) -> Vec<Pfn> {
    let (_, p) = r.model().processes().next().unwrap();
    p.aspace
        .pt
        .iter()
        .filter_map(|(_, e)| match e {
            PmdEntry::Table(t) => Some(
                t.ptes
                    .iter()
                    .filter(|e| e.is_present())
                    .map(|e| e.pfn())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Runs `s` on the runner `name`, calling `seed` after the last statement is performed and
/// before the checks after it; the problems found after the last statement, once the
/// statements before it are shown to have none.
pub fn last_problems(
    s: &Scenario,
    name: &str,
    r: &mut ModelRunner,
    seed: impl Fn(&mut ModelRunner),
) -> Vec<String> {
    let stmts: Vec<_> = s.statements().collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    for (i, stmt) in stmts.iter().enumerate() {
        r.perform(stmt).unwrap();
        if i + 1 == stmts.len() {
            seed(r);
        }
        out.push(
            r.after_statement(stmt)
                .into_iter()
                .map(|p| p.message)
                .collect(),
        );
    }
    let last = out.pop().unwrap();
    assert!(out.iter().all(|p| p.is_empty()), "{name}: {out:?}");
    last
}
