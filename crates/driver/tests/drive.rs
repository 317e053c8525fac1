//! The driver over a scripted mock runner: pass, fail, skips, exit statuses, naming, JSON.

use foliolab_driver::*;
use foliolab_scenario::{
    parse, validate, PageState, ProcOp, Range, RangeForm, RssKind, Scenario, Stmt, StmtKind,
};
use std::collections::BTreeMap;

const PAGE: u64 = 4096;

/// A runner whose memory is a table of pages per region, changed by a few statements.
struct Mock {
    kind: RunnerKind,
    unsupported: Vec<String>,
    regions: BTreeMap<String, Vec<PageObs>>,
    value: u64,
    epochs: BTreeMap<u64, u64>,
    stats: BTreeMap<String, i64>,
    fail_line: Option<u32>,
    problem_line: Option<(u32, ProblemKind)>,
    next_frame: u64,
}

fn present(frame: u64, folio: u64, order: u8, mapcount: u64) -> PageObs {
    PageObs {
        state: PageState::Present,
        frame: Some(frame),
        folio: Some(folio),
        order: Some(order),
        index: Some(frame - folio),
        mapcount: Some(mapcount),
        exclusive: Some(mapcount == 1),
        pmd: Some(false),
        flags: vec!["ANON".into()],
        model: Some(ModelPageObs {
            page_mapcount: Some(0),
            folio: ModelFolioObs {
                refcount: Some(2),
                slot0: Some(None),
                ..Default::default()
            },
            ..Default::default()
        }),
        ..PageObs::none()
    }
}

impl Mock {
    fn new(kind: RunnerKind) -> Mock {
        Mock {
            kind,
            unsupported: Vec::new(),
            regions: BTreeMap::new(),
            value: 0,
            epochs: BTreeMap::new(),
            stats: BTreeMap::new(),
            fail_line: None,
            problem_line: None,
            next_frame: 1000,
        }
    }
    fn model() -> Mock {
        Mock::new(RunnerKind::Model {
            scheme: "linux-6.18".into(),
        })
    }
}

fn bounds(range: &Range, len: usize) -> (u64, u64) {
    range
        .form
        .checked_resolve(len as u64 * PAGE)
        .unwrap_or((0, 0))
}

impl Runner for Mock {
    fn kind(&self) -> RunnerKind {
        self.kind.clone()
    }
    fn unsupported(&self, _: &Scenario) -> Vec<String> {
        self.unsupported.clone()
    }
    fn perform(&mut self, stmt: &Stmt) -> Result<(), RunError> {
        if self.fail_line == Some(stmt.pos.line) {
            return Err(RunError::new("write to read-only page a+0x0: SIGSEGV"));
        }
        let StmtKind::Proc { op, .. } = &stmt.kind else {
            return Ok(());
        };
        match op {
            // 16 pages of one 64K folio (frames 100..116), mapped twice.
            ProcOp::Map { region, .. } => {
                let pages = (0..16).map(|i| present(100 + i, 100, 4, 2)).collect();
                self.regions.insert(region.clone(), pages);
            }
            ProcOp::Write { range, value } => {
                self.value = *value;
                if let RangeForm::Page { offset_bytes } = range.form {
                    self.next_frame += 1;
                    let page = present(self.next_frame, self.next_frame, 0, 1);
                    if let Some(p) = self
                        .regions
                        .get_mut(&range.region)
                        .and_then(|r| r.get_mut((offset_bytes / PAGE) as usize))
                    {
                        *p = page;
                    }
                }
            }
            ProcOp::Unmap { range } => {
                let region = self.regions.entry(range.region.clone()).or_default();
                let (s, e) = bounds(range, region.len());
                for p in &mut region[(s / PAGE) as usize..(e / PAGE) as usize] {
                    *p = PageObs::none();
                }
            }
            ProcOp::Migrate { .. } => {
                self.epochs.insert(100, 7);
            }
            _ => {}
        }
        Ok(())
    }
    fn read(&mut self, _: &str, range: &Range) -> Result<Vec<ReadValue>, RunError> {
        let len = self.regions.get(&range.region).map_or(0, Vec::len);
        let (s, e) = bounds(range, len);
        Ok((s / PAGE..e / PAGE)
            .map(|i| ReadValue {
                offset_bytes: i * PAGE,
                value: self.value,
            })
            .collect())
    }
    fn pages(&mut self, _: &str, range: &Range) -> Result<Vec<(u64, PageObs)>, RunError> {
        let region = self.regions.get(&range.region).cloned().unwrap_or_default();
        let (s, e) = bounds(range, region.len());
        Ok((s / PAGE..e / PAGE)
            .map(|i| (i * PAGE, region[i as usize].clone()))
            .collect())
    }
    fn smaps(&mut self, _: &str, _: &str) -> Result<Vec<SmapsObs>, RunError> {
        let fields = BTreeMap::from([(foliolab_scenario::SmapsField::Rss, 64)]);
        Ok(vec![SmapsObs {
            vma_start_bytes: 0,
            vma_end_bytes: 64 * 1024,
            fields_kb: fields,
        }])
    }
    fn rss_pages(&mut self, _: &str, kind: RssKind) -> Result<u64, RunError> {
        Ok(if kind == RssKind::Anon { 16 } else { 0 })
    }
    fn faults(&mut self, _: &str) -> Result<u64, RunError> {
        Ok(1)
    }
    fn stats(&mut self) -> Result<BTreeMap<String, i64>, RunError> {
        Ok(self.stats.clone())
    }
    fn held_values(&mut self, _: &str, _: &str) -> Result<Vec<u64>, RunError> {
        Ok(vec![self.value; 4])
    }
    fn frame_epoch(&mut self, frame: u64) -> Option<u64> {
        match self.kind {
            RunnerKind::Model { .. } => Some(self.epochs.get(&frame).copied().unwrap_or(0)),
            RunnerKind::Kernel { .. } => None,
        }
    }
    fn after_statement(&mut self, stmt: &Stmt) -> Vec<Problem> {
        match self.problem_line {
            Some((line, kind)) if line == stmt.pos.line => {
                vec![Problem {
                    kind,
                    message: "c read 0x11 written by p".into(),
                }]
            }
            _ => Vec::new(),
        }
    }
}

fn scenario(body: &str) -> Scenario {
    let text = format!("scenario 1\nspawn p\np: map a 64K align=64K\n{body}");
    let s = parse("t.scn", &text).unwrap_or_else(|e| panic!("{e}"));
    validate(&s).unwrap_or_else(|e| panic!("{e}"));
    s
}

fn run(s: &Scenario, mock: &mut Mock) -> (Vec<Record>, SummaryRecord) {
    let mut records = Vec::new();
    let summary = drive(s, mock, &mut |r| records.push(r.clone()));
    (records, summary)
}

fn expects(records: &[Record]) -> Vec<(u32, String, String, String)> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Expect(e) => Some((
                e.line,
                e.result.text(),
                e.expected.clone(),
                e.observed.clone(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn all_pass_is_exit_0() {
    let s = scenario(
        "p: write a 0xaa\np: remember before a\np: write a+0x3000 0x11\np: expect a+0x3000 new before\n\
         p: expect a[0..12K] same before\np: expect a+0x3000 == 0x11\np: expect a present\n\
         p: expect a[0..12K] mapcount == 2\np: expect a[0..12K] order == 4\np: expect a[0..12K] shared\n\
         p: expect a[0..12K] pte\np: expect faults == 1\np: expect rss anon == 16\np: expect smaps a rss == 64K\n\
         p: pin k a\np: expect pin k == 0x11\np: expect folio a refcount == 2\np: expect folio a slot0 == none\n\
         p: expect page a page_mapcount == 0\nexpect stat thp_split_pmd == 0\n",
    );
    let (records, summary) = run(&s, &mut Mock::model());
    let failed: Vec<_> = expects(&records)
        .into_iter()
        .filter(|e| e.1 != "pass")
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(
        (summary.pass, summary.fail, summary.skipped, summary.exit),
        (16, 0, 0, 0)
    );
    assert_eq!(records.last(), Some(&Record::Summary(summary)));
}

#[test]
fn failures_are_exit_1_with_offsets() {
    let s = scenario("p: write a+0x3000 0x11\np: expect a mapcount == 2\np: expect a+0x4000 == 0x12\nexpect stat 2M.split == -1\n");
    let (records, summary) = run(&s, &mut Mock::model());
    let e = expects(&records);
    assert_eq!(e[0], (5, "fail".into(), "2".into(), "0x3000: 1".into()));
    assert_eq!(
        e[1],
        (6, "fail".into(), "0x12".into(), "0x4000: 0x11".into())
    );
    assert_eq!(e[2], (7, "fail".into(), "-1".into(), "0".into()));
    assert_eq!((summary.fail, summary.exit), (3, 1));
}

#[test]
fn runs_of_pages_are_compressed() {
    let s = scenario("p: unmap a[16K..32K]\np: expect a[0..48K] present\n");
    let (records, _) = run(&s, &mut Mock::model());
    assert_eq!(expects(&records)[0].3, "0x4000..0x8000: none");
}

#[test]
fn run_error_is_exit_2_and_stops() {
    let s = scenario("p: write a 1\np: expect a == 1\n");
    let mut mock = Mock::model();
    mock.fail_line = Some(4);
    let (records, summary) = run(&s, &mut mock);
    assert_eq!(records.len(), 2);
    let Record::Problem(p) = &records[0] else {
        panic!("{records:?}")
    };
    assert_eq!(p.kind, ProblemKind::RunError);
    assert_eq!(
        p.message,
        "t.scn:4:1: write to read-only page a+0x0: SIGSEGV"
    );
    assert_eq!((summary.pass, summary.exit), (0, 2));
}

#[test]
fn unsupported_is_exit_3_and_silent() {
    let s = scenario("p: migrate a\n");
    let mut mock = Mock::new(RunnerKind::Kernel {
        release: "6.18.0".into(),
    });
    mock.unsupported = vec!["migrate (line 4)".into()];
    assert_eq!(
        check_supported(&s, &mock),
        vec!["migrate (line 4)".to_string()]
    );
    let (records, summary) = run(&s, &mut mock);
    assert!(records.is_empty());
    assert_eq!(summary.exit, 3);
}

#[test]
fn other_scheme_checks_only_values() {
    let s = scenario("p: write a 0x5\np: expect a == 0x5\np: expect a mapcount == 9\np: pin k a\np: expect pin k == 0x6\nexpect stat thp_split_pmd == 1\n");
    let (records, summary) = run(
        &s,
        &mut Mock::new(RunnerKind::Model {
            scheme: "ideal".into(),
        }),
    );
    let results: Vec<String> = expects(&records).into_iter().map(|e| e.1).collect();
    assert_eq!(
        results,
        ["pass", "skipped(scheme)", "fail", "skipped(scheme)"]
    );
    assert_eq!(
        (summary.pass, summary.fail, summary.skipped, summary.exit),
        (1, 1, 2, 1)
    );
    assert_eq!(summary.runner, "model:ideal");
}

#[test]
fn schemes_statement_selects_checked_schemes() {
    let text =
        "scenario 1\nschemes ideal linux-6.18\nspawn p\np: map a 64K\np: expect a mapcount == 2\n";
    let s = parse("t.scn", text).expect("parses");
    let (records, _) = run(
        &s,
        &mut Mock::new(RunnerKind::Model {
            scheme: "ideal".into(),
        }),
    );
    assert_eq!(expects(&records)[0].1, "pass");
}

#[test]
fn kernel_skips_model_only_and_noisy() {
    let s = scenario("p: expect folio a refcount == 2\np: expect page a page_mapcount == 0\nexpect stat pswpout == 0\nexpect stat deferred_queue_len == 0\nexpect stat thp_split_pmd == 0\np: expect a mapcount == 2\n");
    let (records, summary) = run(
        &s,
        &mut Mock::new(RunnerKind::Kernel {
            release: "6.18.0".into(),
        }),
    );
    let results: Vec<String> = expects(&records).into_iter().map(|e| e.1).collect();
    assert_eq!(
        results,
        [
            "skipped(kernel)",
            "skipped(kernel)",
            "skipped(noisy)",
            "skipped(kernel)",
            "pass",
            "pass"
        ]
    );
    assert_eq!(
        (summary.skipped, summary.exit, summary.runner.as_str()),
        (4, 0, "kernel:6.18.0")
    );
}

#[test]
fn snapshot_of_freed_memory_is_exit_2() {
    let s = scenario("p: remember before a\np: migrate a\np: expect a same before\n");
    let (records, summary) = run(&s, &mut Mock::model());
    let Record::Problem(p) = &records[0] else {
        panic!("{records:?}")
    };
    assert_eq!(
        p.message,
        "t.scn:6:1: snapshot before refers to freed memory"
    );
    assert_eq!(summary.exit, 2);
}

#[test]
fn leaks_are_counted_and_exit_1() {
    let s = scenario("p: write a 0x1\np: expect a == 0x1\n");
    let mut mock = Mock::model();
    mock.problem_line = Some((4, ProblemKind::Leak));
    let (records, summary) = run(&s, &mut mock);
    let Record::Problem(p) = &records[0] else {
        panic!("{records:?}")
    };
    assert_eq!((p.line, p.kind), (4, ProblemKind::Leak));
    assert_eq!((summary.pass, summary.leaks, summary.exit), (1, 1, 1));
}

#[test]
fn frames_and_folios_are_named_in_order_of_first_sight() {
    let s = scenario("p: write a+0x1000 0x1\np: observe a[0..12K]\np: observe a+0x1000\n");
    let (records, _) = run(&s, &mut Mock::model());
    let names: Vec<(u64, Option<String>, Option<String>)> = records
        .iter()
        .filter_map(|r| match r {
            Record::Page(p) => Some((p.offset_bytes, p.frame.clone(), p.folio.clone())),
            _ => None,
        })
        .collect();
    let n = |s: &str| Some(s.to_string());
    assert_eq!(
        names,
        [
            (0, n("p1"), n("f1")),
            (0x1000, n("p2"), n("f2")),
            (0x2000, n("p3"), n("f1")),
            (0x1000, n("p2"), n("f2"))
        ]
    );
    let Record::Page(p) = &records[1] else {
        panic!()
    };
    assert_eq!(render_human(&Record::Page(p.clone())), "   5 page  p a+0x1000 present frame=p2 folio=f2 order=0 idx=0 kpc=1 excl=yes pte flags=ANON");
}

#[test]
fn json_shape() {
    let mut stats = BTreeMap::new();
    stats.insert("thp_split_pmd".to_string(), 1);
    stats.insert("nr_anon_mapped".to_string(), 3);
    stats.insert("thp_fault_alloc".to_string(), 0);
    let s = scenario(
        "p: observe a+0\np: observe smaps a\nobserve stats\np: expect a+0 mapcount == 2\n",
    );
    let mut mock = Mock::model();
    mock.stats = stats;
    let (records, _) = run(&s, &mut mock);
    let lines: Vec<String> = records.iter().map(render_json).collect();
    for l in &lines {
        let v: serde_json::Value = serde_json::from_str(l).expect("valid json");
        assert!(v.get("kind").is_some() && v.get("line").is_some(), "{l}");
    }
    let page: serde_json::Value = serde_json::from_str(&lines[0]).expect("json");
    assert_eq!(page["model"]["folio"]["slot0"], "none");
    assert_eq!(page["model"]["folio"]["refcount"], 2);
    assert!(lines[0].starts_with(r#"{"kind":"page","line":4,"proc":"p","region":"a","offset":0,"state":"present","frame":"p1","folio":"f1","order":4,"index":0,"mapcount":2,"exclusive":false,"pmd":false,"flags":["ANON"],"model":{"#));
    assert!(lines[1].starts_with(r#"{"kind":"smaps","line":5,"proc":"p","region":"a","vma_start":0,"vma_end":65536,"rss":64,"pss":0,"#));
    assert_eq!(
        lines[2],
        r#"{"kind":"stats","line":6,"counters":{"thp_split_pmd":1}}"#
    );
    assert_eq!(
        lines[3],
        r#"{"kind":"expect","line":7,"text":"p: expect a+0 mapcount == 2","result":"pass","expected":"2","observed":"0x0: 2"}"#
    );
    assert_eq!(
        lines[4],
        r#"{"kind":"summary","line":0,"runner":"model:linux-6.18","pass":1,"fail":0,"skipped":0,"leaks":0,"exit":0}"#
    );
    let problem = Record::Problem(ProblemRecord {
        line: 3,
        kind: ProblemKind::Leak,
        message: "x \"y\"".into(),
    });
    assert_eq!(
        render_json(&problem),
        r#"{"kind":"problem","line":3,"problem":"leak","message":"x \"y\""}"#
    );
}

#[test]
fn human_lines() {
    let e = |result| {
        Record::Expect(ExpectRecord {
            line: 12,
            text: "c: expect a+0x3000 new before".into(),
            result,
            expected: "new, not before".into(),
            observed: "0x3000: same".into(),
        })
    };
    assert_eq!(
        render_human(&e(ExpectResult::Pass)),
        "  12 pass  c: expect a+0x3000 new before"
    );
    assert_eq!(
        render_human(&e(ExpectResult::Fail)),
        "  12 FAIL  c: expect a+0x3000 new before: expected new, not before, observed 0x3000: same"
    );
    assert_eq!(
        render_human(&e(ExpectResult::Skipped("kernel".into()))),
        "  12 skip  c: expect a+0x3000 new before (kernel)"
    );
    let sum = Record::Summary(SummaryRecord {
        runner: "model:linux-6.18".into(),
        pass: 3,
        fail: 1,
        skipped: 0,
        leaks: 0,
        exit: 1,
    });
    assert_eq!(
        render_human(&sum),
        "model:linux-6.18: 3 pass, 1 fail, 0 skipped, 0 leaks; exit 1"
    );
}
