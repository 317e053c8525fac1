//! The era is asked, not assumed: today's model is the 6.18 era, and changing one decision
//! point changes exactly what that point decides.

use foliolab_driver::{drive, ExpectResult, Record};
use foliolab_model::era::{Era, FaultAround};
use foliolab_scenario::{parse, validate, Scenario};
use foliolab_schemes::by_name;
use foliolab_sim::ModelRunner;

fn scenario(path: &str) -> Scenario {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    let text = std::fs::read_to_string(&p).unwrap();
    let s = parse(path, &text).unwrap();
    validate(&s).unwrap();
    s
}

fn records(s: &Scenario, mut runner: ModelRunner) -> Vec<String> {
    let mut out = Vec::new();
    drive(s, &mut runner, &mut |r: &Record| {
        out.push(foliolab_driver::render_json(r))
    });
    out
}

#[test]
fn the_default_model_is_the_6_18_era_with_its_design() {
    let era = Era::LINUX_6_18;
    assert_eq!(era.design, "linux-6.18");
    for path in [
        "tests/conformance/file-private-pmd-refault-2m.scn",
        "tests/conformance/swap-pageout-2m-swapin-64k.scn",
        "tests/traces/trace-d-three-mms-sticky-shared.scn",
    ] {
        let s = scenario(path);
        let default = records(&s, ModelRunner::new("linux-6.18").unwrap());
        let explicit = records(&s, ModelRunner::with_era(era, by_name(era.design).unwrap()));
        assert_eq!(default, explicit, "{path}");
    }
}

/// Before 6.18 fault-around mapped only its 64K window of a cached large folio: the refault
/// after a private write maps the 16 pages of its window, not the other 511 (RSS 528: 512 of
/// the shared mapping plus 16, instead of 1023).
#[test]
fn an_era_without_whole_folio_fault_around_maps_the_window_only() {
    let s = scenario("tests/conformance/file-private-pmd-refault-2m.scn");
    let era = Era {
        fault_around: FaultAround::Window,
        ..Era::LINUX_6_18
    };
    let mut failed = Vec::new();
    drive(
        &s,
        &mut ModelRunner::with_era(era, by_name("linux-6.18").unwrap()),
        &mut |r: &Record| {
            if let Record::Expect(e) = r {
                if e.result == ExpectResult::Fail {
                    failed.push((e.text.clone(), e.observed.clone()));
                }
            }
        },
    );
    assert!(
        failed
            .iter()
            .any(|(t, o)| t.contains("rss shmem == 1023") && o == "528"),
        "{failed:?}"
    );
}

fn text_scenario(text: &str) -> Scenario {
    let s = parse("t.scn", text).unwrap();
    validate(&s).unwrap();
    s
}

/// What an era's kernel could not do is unsupported in that era, with the probe's reason.
#[test]
fn an_era_refuses_what_its_kernel_lacked() {
    let s = text_scenario(
        "scenario 1\nthp 64K=always shmem.64K=always\nspawn p\np: map a 64K\np: advise a populate_write\np: advise a collapse\n",
    );
    let runner = |era| ModelRunner::for_era(era, "linux-6.18").unwrap();
    assert!(foliolab_driver::check_supported(&s, &runner(Era::LINUX_6_18)).is_empty());
    assert!(foliolab_driver::check_supported(&s, &runner(Era::LINUX_6_12)).is_empty());
    let old = Era {
        anon_large: foliolab_model::era::AnonLarge::PmdOnly,
        shmem_per_size: false,
        advice: foliolab_model::era::AdviceSupport {
            populate: false,
            collapse: false,
        },
        ..Era::LINUX_6_18
    };
    let missing = foliolab_driver::check_supported(&s, &runner(old));
    assert_eq!(missing.len(), 4, "{missing:?}");
    assert!(missing[0].starts_with("line 2: THP knob hugepages-64kB/enabled"));
    assert!(missing[0].contains("arrived in 6.8"));
    assert!(missing[1].contains("hugepages-64kB/shmem_enabled") && missing[1].contains("6.12"));
    assert!(missing[2].contains("populate_write needs Linux 5.14"));
    assert!(missing[3].contains("collapse needs Linux 6.1"));
}

/// Without per-size knobs, `2M=X` sets the top-level knob (as the probe folds it): `enabled
/// never` with `2M=always` still faults a PMD THP; `64K=never` is accepted and means nothing.
#[test]
fn an_era_without_per_size_knobs_folds_the_pmd_size_into_enabled() {
    let s = text_scenario(
        "scenario 1\nthp enabled=never 2M=always 64K=never\nspawn p\np: map a 2M\np: write a 0x1\np: expect a pmd\n",
    );
    let old = Era {
        anon_large: foliolab_model::era::AnonLarge::PmdOnly,
        ..Era::LINUX_6_18
    };
    let mut r = ModelRunner::for_era(old, "linux-6.18").unwrap();
    assert!(foliolab_driver::check_supported(&s, &r).is_empty());
    let summary = drive(&s, &mut r, &mut |_: &Record| {});
    assert_eq!(summary.exit, 0);
}

/// The failed expectations of a run under `era`'s own design.
fn failed_expectations(s: &Scenario, era: Era) -> Vec<String> {
    failed_with(s, era, era.design)
}

/// The failed expectations of a run under `era`'s operations and `design`.
fn failed_with(s: &Scenario, era: Era, design: &str) -> Vec<String> {
    let mut failed = Vec::new();
    let mut r = ModelRunner::for_era(era, design).unwrap();
    drive(s, &mut r, &mut |r: &Record| {
        if let Record::Expect(e) = r {
            if e.result == ExpectResult::Fail {
                failed.push(format!("{} = {}", e.text, e.observed));
            }
        }
    });
    failed
}

/// 7.2 reads a shared swap entry into a large folio in the swap cache and maps it whole
/// (`swapin_cache`); 6.18 reads one order-0 page. The scenario's expectations are 6.18's.
#[test]
fn the_7_2_era_swaps_in_shared_large_folios_whole() {
    let s = scenario("tests/conformance/swap-fork-shared-64k.scn");
    assert!(failed_expectations(&s, Era::LINUX_6_18).is_empty());
    let failed = failed_expectations(&s, Era::LINUX_7_2);
    assert!(
        failed
            .iter()
            .any(|f| f.contains("64K.swpin == 0") && f.ends_with("= 1")),
        "{failed:?}"
    );
    assert!(
        failed
            .iter()
            .any(|f| f.contains("order == 0") && f.ends_with(": 4")),
        "{failed:?}"
    );
}

/// The page records of a run: (offset, state, flags).
fn pages(s: &Scenario, era: Era) -> Vec<(u64, String, Vec<String>)> {
    let mut out = Vec::new();
    let mut r = ModelRunner::for_era(era, "linux-6.18").unwrap();
    drive(s, &mut r, &mut |r: &Record| {
        if let Record::Page(p) = r {
            out.push((p.offset_bytes, p.state.clone(), p.flags.clone()));
        }
    });
    out
}

/// The failed expectations of a run under `era`'s operations and today's design.
fn failed_under(s: &Scenario, era: Era) -> Vec<String> {
    failed_with(s, era, "linux-6.18")
}

/// 6.12's kpageflags shows KSM on every anonymous page (`kpageflags_ksm_anon`).
#[test]
fn the_6_12_ksm_flag_bug_marks_anon_pages() {
    let s = text_scenario("scenario 1\nspawn p\np: map a 4K\np: write a 0x1\np: observe a\n");
    let ksm = |era| pages(&s, era)[0].2.contains(&"KSM".to_string());
    assert!(!ksm(Era::LINUX_6_18));
    assert!(ksm(Era {
        kpageflags_ksm_anon: true,
        ..Era::LINUX_6_18
    }));
}

/// A 64K folio split for a 48K swap device (11 slots): 6.18 reclaim meets the head, then
/// pages 15, 14, ...; 6.12 the head, then 1, 2, ... (`split_reclaim_order`).
#[test]
fn the_split_reclaim_order_decides_which_pages_get_the_last_slots() {
    let s = scenario("tests/conformance/swap-full-fallback-64k.scn");
    let state = |era, off: u64| {
        pages(&s, era)
            .into_iter()
            .find(|p| p.0 == off)
            .map(|p| p.1)
            .unwrap()
    };
    assert_eq!(state(Era::LINUX_6_18, 0x1000), "present");
    assert_eq!(state(Era::LINUX_6_18, 0xf000), "swapped");
    let in_order = Era {
        split_reclaim_order: foliolab_model::era::SplitReclaimOrder::InOrder,
        ..Era::LINUX_6_18
    };
    assert_eq!(state(in_order, 0x1000), "swapped");
    assert_eq!(state(in_order, 0xf000), "present");
}

/// Collapse removing old mappings page by page leaves each mTHP partially mapped for a
/// moment: 31 split_deferred for the 31 64K folios (`collapse_batching`, 6.12).
#[test]
fn collapse_without_batching_counts_each_mthp_as_partially_mapped() {
    let s = scenario("tests/conformance/collapse-mthp-2m.scn");
    assert!(failed_under(&s, Era::LINUX_6_18).is_empty());
    let per_page = Era {
        collapse_batching: false,
        ..Era::LINUX_6_18
    };
    let failed = failed_under(&s, per_page);
    assert_eq!(failed, vec!["expect stat 64K.split_deferred == 0 = 31"]);
}

/// Up to 6.12 a range fork write-protected is not collapsed (`collapse_needs_writable`).
#[test]
fn collapse_of_a_read_only_range_fails_where_a_writable_pte_is_needed() {
    let s = scenario("tests/conformance/collapse-shared-2m.scn");
    assert!(failed_under(&s, Era::LINUX_6_18).is_empty());
    let needs = Era {
        collapse_needs_writable: true,
        ..Era::LINUX_6_18
    };
    let failed = failed_under(&s, needs);
    assert!(
        failed.iter().any(|f| f.starts_with("p: expect a pmd = ")),
        "{failed:?}"
    );
}
