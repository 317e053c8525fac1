//! The differences of `foliolab check` that are measurement artefacts of the kernel run, not
//! model errors, classified by rule (docs/workloads.md, "Checking the corpus"). A difference
//! no rule covers is unexplained and fails the check; `--strict` counts every difference.
//!
//! The rules, each with what it excludes and why:
//! - [`Artefact::LruBatch`]: a page's `flags` differ only in `ACTIVE` and `REFERENCED`,
//!   or smaps `Referenced` differs (either way) in a VMA that maps page-cache pages (its
//!   `Rss` above its `Anonymous` on the model). A zap of a young PTE of a page-cache folio
//!   calls `folio_mark_accessed`, which sets PG_referenced the first time, and the second
//!   time clears it and activates the folio through a per-CPU LRU batch; whether the batch
//!   was drained when the probe looked is timing. The model keeps no batch: it shows the
//!   drained state.
//! - [`Artefact::YoungState`]: smaps `Referenced` of a VMA is higher on the kernel (never
//!   lower), on a host where DAMON monitors physical memory. DAMON's sampling
//!   (`damon_ptep_mkold`) clears the accessed bit of a sampled folio's PTEs in every
//!   process and sets the folio's PG_young; smaps counts a page referenced when its PTE is
//!   young *or its folio is young or referenced*, so a child shows as referenced pages it
//!   never touched whose young bit was its parent's. The model runs no DAMON.
//!
//! Every other smaps field of such a VMA, and every other page field, is still compared
//! exactly.
//! - [`Artefact::CleanEvicted`]: a VMA mapping page-cache pages has fewer clean pages on
//!   the kernel, and only that: `Rss` lower by exactly the sum of what `Private_Clean` and
//!   `Shared_Clean` are lower, `Pss` and `Referenced` not higher, every other field equal.
//!   This host drops clean page-cache pages no process maps (seen on an open memfd, with no
//!   reclaim, migration or `drop_caches` counted), so a later fault-around finds a page
//!   fewer cached than the model, which evicts nothing.
//! - [`Artefact::HostCounters`]: an `observe stats` counter on this machine's kernel, where
//!   the counters are host-wide and other processes (other jobs' VMs, compilers) move them,
//!   after the probe ran the scenario again on a quiet host ([`foliolab_probe::recheck`]);
//!   only when every per-process THP observation agrees (smaps `AnonHugePages`,
//!   `ShmemPmdMapped`, `FilePmdMapped`, the sampled pages' order and PMD mapping), which
//!   says the scenario's own processes did what the model did.

use foliolab_driver::diff::Diff;
use foliolab_driver::{Record, SmapsRecord};
use foliolab_scenario::SmapsField;
use std::collections::BTreeMap;

/// A class of measurement artefact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Artefact {
    LruBatch,
    YoungState,
    HostCounters,
    CleanEvicted,
}

impl Artefact {
    pub fn name(self) -> &'static str {
        match self {
            Artefact::LruBatch => "lru-batch",
            Artefact::YoungState => "young-state",
            Artefact::HostCounters => "host-counters",
            Artefact::CleanEvicted => "clean-evicted",
        }
    }

    /// Why differences of this class are not the model's, on this run's kernel.
    pub fn why(self, facts: &KernelFacts) -> String {
        match self {
            Artefact::LruBatch => "page flags differing only in ACTIVE/REFERENCED, or smaps Referenced of a VMA mapping page-cache pages: folio_mark_accessed sets PG_referenced, then clears it and activates through a per-CPU LRU batch, drained or not when the probe looks (timing); the model shows the drained state".into(),
            Artefact::YoungState => {
                format!("smaps Referenced higher on the kernel (every other field is compared exactly): DAMON monitors physical memory on this host ({}): its sampling moves a PTE's accessed bit into the folio's PG_young, which smaps counts as referenced in every process mapping the folio; the model runs no DAMON", facts.damon.join("; "))
            }
            Artefact::CleanEvicted => "a VMA mapping page-cache pages shows fewer clean pages on the kernel (Rss lower by exactly its Private_Clean plus Shared_Clean, nothing dirty or anonymous differs): this host drops clean page-cache pages that no process maps (an open memfd's too, without reclaim: tools/workloads/page-cache-evict.c), so a later fault-around finds one page fewer cached; the model evicts nothing".into(),
            Artefact::HostCounters => "host-wide counters (vmstat, per-size THP stats) moved by other processes on this shared host, after retries on a quiet host; every per-process THP observation (smaps AnonHugePages/ShmemPmdMapped/FilePmdMapped, sampled pages' order and PMD mapping) agrees".into(),
        }
    }
}

/// What the kernel run's host says about artefacts.
#[derive(Clone, Debug, Default)]
pub struct KernelFacts {
    /// Classify at all (false: every difference is unexplained, as with `--strict`).
    pub classify: bool,
    /// Other processes share the kernel (this machine: yes; a VM guest: no).
    pub shared_host: bool,
    /// DAMON physical-address monitors running on the kernel.
    pub damon: Vec<String>,
}

impl KernelFacts {
    /// This machine's kernel, as it is now.
    pub fn this_host() -> KernelFacts {
        KernelFacts {
            classify: true,
            shared_host: true,
            damon: foliolab_probe::readers::damon_paddr_monitors(),
        }
    }

    /// Every difference counts.
    pub fn strict() -> KernelFacts {
        KernelFacts::default()
    }
}

/// The class of each difference (`None`: unexplained), in order. `left` is the model's run.
pub fn classify(diffs: &[Diff], left: &[Record], facts: &KernelFacts) -> Vec<Option<Artefact>> {
    if !facts.classify {
        return vec![None; diffs.len()];
    }
    let smaps = smaps_by_what(left);
    let mut out: Vec<Option<Artefact>> = diffs
        .iter()
        .map(|d| {
            if lru_flags_only(d) {
                Some(Artefact::LruBatch)
            } else {
                referenced(d, &smaps, facts)
            }
        })
        .collect();
    clean_evicted(diffs, &smaps, &mut out);
    let thp_agrees = !diffs
        .iter()
        .zip(&out)
        .any(|(d, c)| c.is_none() && thp_of_process(d));
    if facts.shared_host && thp_agrees {
        for (d, c) in diffs.iter().zip(out.iter_mut()) {
            if c.is_none() && d.what.starts_with("stat ") {
                *c = Some(Artefact::HostCounters);
            }
        }
    }
    out
}

/// The model's smaps records by the prefix `diff_runs` names them with.
fn smaps_by_what(left: &[Record]) -> BTreeMap<(u32, String), &SmapsRecord> {
    left.iter()
        .filter_map(|r| match r {
            Record::Smaps(s) => Some((
                (
                    s.line,
                    format!("smaps {} {} [{:#x}..]", s.proc, s.region, s.vma_start_bytes),
                ),
                s,
            )),
            _ => None,
        })
        .collect()
}

fn lru_flags_only(d: &Diff) -> bool {
    if !d.what.ends_with(" flags") {
        return false;
    }
    fn strip(s: &str) -> Vec<&str> {
        s.split(',')
            .filter(|f| *f != "ACTIVE" && *f != "REFERENCED")
            .collect()
    }
    strip(&d.left) == strip(&d.right)
}

fn kb(v: &str) -> Option<u64> {
    v.strip_suffix(" kB")?.parse().ok()
}

/// The class of a smaps `referenced` difference, if it is an artefact.
fn referenced(
    d: &Diff,
    smaps: &BTreeMap<(u32, String), &SmapsRecord>,
    facts: &KernelFacts,
) -> Option<Artefact> {
    let prefix = d.what.strip_suffix(" referenced")?;
    let (model, kernel) = (kb(&d.left)?, kb(&d.right)?);
    if kernel > model && !facts.damon.is_empty() {
        return Some(Artefact::YoungState);
    }
    let s = smaps.get(&(d.line, prefix.to_string()))?;
    let f = |k| s.fields_kb.get(&k).copied().unwrap_or(0);
    (f(SmapsField::Rss) > f(SmapsField::Anonymous)).then_some(Artefact::LruBatch)
}

/// One smaps field's difference: its index in the diffs, its name, model minus kernel (kB).
type FieldDiff<'a> = (usize, &'a str, i64);

/// Marks [`Artefact::CleanEvicted`] the unclassified smaps differences of each VMA whose
/// differences say only that the kernel had fewer clean page-cache pages mapped.
fn clean_evicted(
    diffs: &[Diff],
    smaps: &BTreeMap<(u32, String), &SmapsRecord>,
    out: &mut [Option<Artefact>],
) {
    // Per VMA: the indices of its differences and each field's (model - kernel) in kB.
    let mut by_vma: BTreeMap<(u32, &str), Vec<FieldDiff>> = BTreeMap::new();
    for (i, d) in diffs.iter().enumerate() {
        let Some((prefix, field)) = d.what.rsplit_once(' ') else {
            continue;
        };
        if let (true, Some(m), Some(k)) = (prefix.starts_with("smaps "), kb(&d.left), kb(&d.right))
        {
            by_vma
                .entry((d.line, prefix))
                .or_default()
                .push((i, field, m as i64 - k as i64));
        }
    }
    for ((line, prefix), fields) in by_vma {
        let Some(s) = smaps.get(&(line, prefix.to_string())) else {
            continue;
        };
        let f = |k| s.fields_kb.get(&k).copied().unwrap_or(0) as i64;
        let file_kb = f(SmapsField::Rss) - f(SmapsField::Anonymous);
        let fewer = |name: &str| fields.iter().find(|x| x.1 == name).map_or(0, |x| x.2);
        let only_clean = fields.iter().all(|(_, name, d)| {
            matches!(*name, "rss" | "private_clean" | "shared_clean")
                || (matches!(*name, "pss" | "referenced") && *d > 0)
        });
        let rss = fewer("rss");
        if only_clean
            && rss > 0
            && rss <= file_kb
            && rss == fewer("private_clean") + fewer("shared_clean")
        {
            for (i, _, _) in fields {
                out[i].get_or_insert(Artefact::CleanEvicted);
            }
        }
    }
}

/// A difference in what the scenario's own processes show of THP.
fn thp_of_process(d: &Diff) -> bool {
    [
        " anon_huge",
        " shmem_pmd_mapped",
        " file_pmd_mapped",
        " order",
        " pmd",
    ]
    .iter()
    .any(|s| d.what.ends_with(s))
}

/// How many differences of each class, and how many unexplained.
pub fn tally(classes: &[Option<Artefact>]) -> (usize, BTreeMap<Artefact, usize>) {
    let mut by = BTreeMap::new();
    let mut unexplained = 0;
    for c in classes {
        match c {
            Some(a) => *by.entry(*a).or_insert(0) += 1,
            None => unexplained += 1,
        }
    }
    (unexplained, by)
}

#[cfg(test)]
mod tests {
    use super::*;
    use foliolab_driver::diff::diff_runs;
    use foliolab_driver::StatsRecord;

    fn smaps(line: u32, proc: &str, rss: u64, anon: u64, referenced: u64) -> Record {
        Record::Smaps(SmapsRecord {
            line,
            proc: proc.into(),
            region: "s".into(),
            vma_start_bytes: 0x1000,
            vma_end_bytes: 0x100000,
            fields_kb: [
                (SmapsField::Rss, rss),
                (SmapsField::Anonymous, anon),
                (SmapsField::Referenced, referenced),
            ]
            .into_iter()
            .collect(),
        })
    }

    fn stats(line: u32, n: i64) -> Record {
        Record::Stats(StatsRecord {
            line,
            counters: [("thp_fault_alloc".to_string(), n)].into_iter().collect(),
        })
    }

    fn host(damon: bool) -> KernelFacts {
        KernelFacts {
            classify: true,
            shared_host: true,
            damon: if damon {
                vec!["kdamond.0 (pid 1): paddr".into()]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn referenced_higher_on_the_kernel_is_young_state_only_where_it_can_be() {
        let model = vec![smaps(5, "c", 64, 64, 8), smaps(5, "d", 64, 32, 8)];
        let kernel = vec![smaps(5, "c", 64, 64, 16), smaps(5, "d", 64, 32, 16)];
        let d = diff_runs(&model, &kernel);
        assert_eq!(d.len(), 2, "{d:?}");
        let with = classify(&d, &model, &host(true));
        assert_eq!(with, vec![Some(Artefact::YoungState); 2]);
        // Without DAMON only the VMA with page-cache pages (rss above anonymous) is covered.
        let without = classify(&d, &model, &host(false));
        assert_eq!(without, vec![None, Some(Artefact::LruBatch)]);
        // Lower on the kernel: only where page-cache pages are mapped; another field: never.
        let lower = vec![smaps(5, "c", 64, 64, 4), smaps(5, "d", 64, 32, 4)];
        let d = diff_runs(&model, &lower);
        let c = classify(&d, &model, &host(true));
        assert_eq!(c, vec![None, Some(Artefact::LruBatch)]);
        let rss = vec![smaps(5, "c", 60, 60, 16)];
        let d = diff_runs(&model[..1], &rss);
        let c = classify(&d, &model, &host(true));
        assert_eq!(tally(&c).0, 2, "rss and anonymous stay unexplained: {d:?}");
        assert!(classify(&d, &model, &KernelFacts::strict())
            .iter()
            .all(Option::is_none));
    }

    #[test]
    fn host_counters_only_on_a_shared_host_whose_processes_agree() {
        let model = vec![smaps(5, "c", 64, 64, 8), stats(9, 0)];
        let kernel = vec![smaps(5, "c", 64, 64, 8), stats(9, 13)];
        let d = diff_runs(&model, &kernel);
        assert_eq!(
            classify(&d, &model, &host(false)),
            vec![Some(Artefact::HostCounters)]
        );
        let guest = KernelFacts {
            shared_host: false,
            ..host(false)
        };
        assert_eq!(classify(&d, &model, &guest), vec![None]);
        let mut huge = smaps(5, "c", 64, 64, 8);
        if let Record::Smaps(s) = &mut huge {
            s.fields_kb.insert(SmapsField::AnonHuge, 2048);
        }
        let d = diff_runs(&model, &[huge, stats(9, 13)]);
        let c = classify(&d, &model, &host(false));
        assert_eq!(
            tally(&c).0,
            2,
            "a THP the model lacks: the counter is not excused"
        );
    }

    #[test]
    fn fewer_clean_file_pages_on_the_kernel_and_nothing_else() {
        let vma = |rss: u64, pc: u64, dirty: u64| {
            let mut r = smaps(7, "p", rss, 0, rss);
            if let Record::Smaps(s) = &mut r {
                s.fields_kb.insert(SmapsField::Pss, rss);
                s.fields_kb.insert(SmapsField::PrivateClean, pc);
                s.fields_kb.insert(SmapsField::PrivateDirty, dirty);
            }
            r
        };
        let model = vec![vma(64, 64, 0)];
        let d = diff_runs(&model, &[vma(60, 60, 0)]);
        assert_eq!(d.len(), 4, "{d:?}");
        let c = classify(&d, &model, &host(false));
        // Referenced of a VMA mapping page-cache pages is the LRU batch's already.
        let want = [
            Artefact::CleanEvicted,
            Artefact::CleanEvicted,
            Artefact::CleanEvicted,
            Artefact::LruBatch,
        ];
        assert_eq!(c, want.map(Some).to_vec(), "{d:?}");
        // More on the kernel, or a dirty page: not this.
        let d = diff_runs(&model, &[vma(68, 68, 0)]);
        assert_eq!(tally(&classify(&d, &model, &host(false))).0, 3);
        let d = diff_runs(&model, &[vma(60, 56, 4)]);
        assert!(classify(&d, &model, &host(false))
            .iter()
            .any(Option::is_none));
    }

    #[test]
    fn flags_differing_only_in_lru_state() {
        let d = |l: &str, r: &str| Diff {
            line: 3,
            what: "p r+0x0 flags".into(),
            left: l.into(),
            right: r.into(),
        };
        let a = d("ACTIVE,MMAP,REFERENCED,UPTODATE", "MMAP,UPTODATE");
        let b = d("ANON,MMAP", "MMAP");
        let c = classify(&[a, b], &[], &host(false));
        assert_eq!(c, vec![Some(Artefact::LruBatch), None]);
    }
}
