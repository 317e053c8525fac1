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
