//! Every design's batched rmap calls (`dup_batch`, `remove_batch`) have exactly the effect
//! and the results of the per-span calls they stand for (`dup`, `remove`, in order): two
//! instances of each registered design see the same random events, one batched and one
//! span by span, and must agree on every result, every folio's counters, every page's
//! mapcount and the costs they record.
//!
//! Seeded: `FOLIOLAB_BATCH_SEED=0x... cargo test -p foliolab-schemes --test
//! batch_equivalence` replays a failure (the seed is printed with it).

use foliolab_schemes::*;
use foliolab_types::prng::Prng;
use foliolab_types::{MmId, Order, Pfn, VmaId};

const MMS: [MmId; 3] = [MmId(7), MmId(9), MmId(11)];

/// The folios of a run: a stretch of small folios at consecutive PFNs (a zap or fork of
/// 4K pages), a few 16K and 64K folios side by side, and a 2M one.
fn folios() -> Vec<FolioRef> {
    let mut v = Vec::new();
    let mut add = |head: u64, order: u8, n: u64| {
        for i in 0..n {
            v.push(FolioRef {
                head: Pfn(head + (i << order)),
                order: Order(order),
                anon: true,
            });
        }
    };
    add(1024, 0, 40);
    add(2048, 2, 4);
    add(2112, 4, 6);
    add(4096, 9, 1);
    v
}

/// PTE mappings of each page by each MM (what a removal may take away), and PMD mappings
/// of each folio by each MM.
struct Mapped {
    ptes: Vec<[u32; 3]>,
    pmds: Vec<[u32; 3]>,
}

/// One folio's page `i` in `Mapped::ptes`.
fn page_index(folios: &[FolioRef], f: usize, page: u64) -> usize {
    folios[..f]
        .iter()
        .map(|g| g.nr_pages() as usize)
        .sum::<usize>()
        + page as usize
}

fn ctx(mm: usize, cause: Cause) -> Ctx {
    Ctx {
        mm: MMS[mm],
        vma: VmaId(MMS[mm].0 as u64),
        cause,
    }
}

/// Random spans of a batch by MM `mm` at `level`: those a dup may add (pages some MM maps,
/// for the child `mm`) or a removal may take (pages `mm` maps, each counted once per span
/// that takes it). The spans of one batch may name a folio more than once, as two runs of
/// one page table can.
fn spans(
    rng: &mut Prng,
    folios: &[FolioRef],
    mapped: &mut Mapped,
    mm: usize,
    level: Level,
    dup: bool,
) -> Vec<Span> {
    let mut out = Vec::new();
    // Often a run of small folios at consecutive PFNs, as a page table of 4K pages gives.
    let mut f = rng.below(folios.len() as u64) as usize;
    for _ in 0..1 + rng.below(24) {
        let folio = folios[f];
        f = if rng.below(4) == 0 {
            rng.below(folios.len() as u64) as usize
        } else {
            (f + 1) % folios.len()
        };
        if level == Level::Pmd {
            if !folio.pmd_mappable() {
                continue;
            }
            let at = folios.iter().position(|g| *g == folio).unwrap_or(0);
            let counts = &mut mapped.pmds[at];
            let ok = if dup {
                counts.iter().any(|&n| n > 0)
            } else {
                counts[mm] > 0
            };
            if ok {
                if dup {
                    counts[mm] += 1;
                } else {
                    counts[mm] -= 1;
                }
                out.push(Span {
                    folio,
                    first: folio.head,
                    nr: folio.nr_pages(),
                });
            }
            continue;
        }
        let at = folios.iter().position(|g| *g == folio).unwrap_or(0);
        let first = rng.below(folio.nr_pages());
        let nr_max = (folio.nr_pages() - first).min(1 + rng.below(folio.nr_pages()));
        // The longest run from `first` whose every page the event may take.
        let mut nr = 0;
        while nr < nr_max {
            let c = &mapped.ptes[page_index(folios, at, first + nr)];
            let pmd_mapped = mapped.pmds[at].iter().any(|&n| n > 0);
            let ok = if dup {
                c.iter().any(|&n| n > 0) || pmd_mapped
            } else {
                c[mm] > 0
            };
            if !ok {
                break;
            }
            nr += 1;
        }
        if nr == 0 {
            continue;
        }
        for p in first..first + nr {
            let c = &mut mapped.ptes[page_index(folios, at, p)][mm];
            if dup {
                *c += 1;
            } else {
                *c -= 1;
            }
        }
        out.push(Span {
            folio,
            first: folio.head.add(first),
            nr,
        });
    }
    out
}

/// Both instances agree on every folio and page.
fn assert_same(a: &dyn Scheme, b: &dyn Scheme, folios: &[FolioRef], what: &str) {
    for &f in folios {
        assert_eq!(a.counters(f), b.counters(f), "{what}: counters of {f:?}");
        assert_eq!(a.mapcount(f), b.mapcount(f), "{what}: mapcount of {f:?}");
        let shared = (a.maybe_mapped_shared(f), b.maybe_mapped_shared(f));
        assert_eq!(shared.0, shared.1, "{what}: maybe shared {f:?}");
        for i in 0..f.nr_pages() {
            let page = f.head.add(i);
            let (x, y) = (a.page_mapcount(f, page), b.page_mapcount(f, page));
            assert_eq!(x, y, "{what}: page mapcount of {page:?}");
        }
    }
    assert_eq!(a.costs(), b.costs(), "{what}: costs");
}

/// Maps every folio in MM 0 (PTEs, a PMD for the 2M folio), on both instances alike.
fn start(a: &mut dyn Scheme, b: &mut dyn Scheme, folios: &[FolioRef], mapped: &mut Mapped) {
    for (at, &f) in folios.iter().enumerate() {
        a.prep_folio(f);
        a.add_new_anon(f, ctx(0, Cause::Fault));
        b.prep_folio(f);
        b.add_new_anon(f, ctx(0, Cause::Fault));
        if f.pmd_mappable() {
            mapped.pmds[at][0] = 1;
        } else {
            for p in 0..f.nr_pages() {
                mapped.ptes[page_index(folios, at, p)][0] = 1;
            }
        }
    }
}

/// One design, one seed: `rounds` random batches, each applied batched to `a` and span by
/// span to `b`.
fn run(design: &Design, seed: u64, rounds: usize) {
    let mut rng = Prng::new(seed);
    let folios = folios();
    let nr_pages: u64 = folios.iter().map(|f| f.nr_pages()).sum();
    let mut mapped = Mapped {
        ptes: vec![[0; 3]; nr_pages as usize],
        pmds: vec![[0; 3]; folios.len()],
    };
    let (mut a, mut b) = (design.instantiate(), design.instantiate());
    start(&mut *a, &mut *b, &folios, &mut mapped);
    let mut out_a = Vec::new();
    for round in 0..rounds {
        let what = format!("{} seed {seed:#x} round {round}", design.name);
        let mm = rng.below(3) as usize;
        let level = if rng.below(6) == 0 {
            Level::Pmd
        } else {
            Level::Pte
        };
        let dup = rng.below(2) == 0;
        let spans = spans(&mut rng, &folios, &mut mapped, mm, level, dup);
        if dup {
            let c = ctx(mm, Cause::Fork);
            a.dup_batch(&spans, level, c);
            for s in &spans {
                b.dup(s.folio, s.first, s.nr, level, c);
            }
        } else {
            let c = ctx(mm, Cause::Zap);
            out_a.clear();
            out_a.resize(spans.len(), Removed::default());
            a.remove_batch(&spans, level, c, &mut out_a);
            for (s, got) in spans.iter().zip(&out_a) {
                let want = b.remove(s.folio, s.first, s.nr, level, c);
                assert_eq!(*got, want, "{what}: removal of {s:?}");
            }
        }
        assert_same(&*a, &*b, &folios, &what);
    }
}

#[test]
fn batched_calls_do_what_the_calls_of_their_spans_do_in_every_design() {
    let seeds: Vec<u64> = match std::env::var("FOLIOLAB_BATCH_SEED") {
        Ok(s) => {
            let s = s.trim_start_matches("0x");
            vec![u64::from_str_radix(s, 16).expect("FOLIOLAB_BATCH_SEED: hex")]
        }
        Err(_) => (0..6).map(|i| 0x9e37_79b9_7f4a_7c15 ^ i).collect(),
    };
    assert!(registry::DESIGNS.len() >= 10, "every design is registered");
    for design in registry::DESIGNS {
        for &seed in &seeds {
            println!(
                "{}: seed {seed:#x} (replay: FOLIOLAB_BATCH_SEED={seed:#x} cargo test -p \
                 foliolab-schemes --test batch_equivalence)",
                design.name
            );
            run(design, seed, 300);
        }
    }
}
