//! Every statement kind parses to the expected AST.

use foliolab_scenario::*;

fn parse_one(line: &str) -> StmtKind {
    let text = format!("scenario 1\n{line}\n");
    let s = parse("t.scn", &text).unwrap_or_else(|e| panic!("{line}: {e}"));
    let kind = s.statements().nth(1).map(|st| st.kind.clone());
    kind.expect("a statement")
}

fn op(line: &str) -> ProcOp {
    match parse_one(&format!("p: {line}")) {
        StmtKind::Proc { proc, op } => {
            assert_eq!(proc, "p");
            op
        }
        other => panic!("not a process statement: {other:?}"),
    }
}

fn range(region: &str, form: RangeForm) -> Range {
    Range {
        region: region.into(),
        form,
        pos: Pos::default(),
    }
}

fn strip(op: ProcOp) -> ProcOp {
    let st = Stmt {
        pos: Pos::default(),
        kind: StmtKind::Proc {
            proc: "p".into(),
            op,
        },
        comment: None,
        tokens: Vec::new(),
    };
    let s = Scenario {
        path: String::new(),
        items: vec![Item::Stmt(st)],
    }
    .without_positions();
    match s.items.into_iter().next() {
        Some(Item::Stmt(Stmt {
            kind: StmtKind::Proc { op, .. },
            ..
        })) => op,
        _ => unreachable!(),
    }
}

const K: u64 = 1024;
const M: u64 = 1 << 20;

#[test]
fn global_statements() {
    assert_eq!(
        parse_one("schemes linux-6.18 x"),
        StmtKind::Schemes {
            names: vec!["linux-6.18".into(), "x".into()]
        }
    );
    let StmtKind::Thp { settings } =
        parse_one("thp shmem.2M=never 2M=always enabled=never max_ptes_none=0x10")
    else {
        panic!("thp")
    };
    let keys: Vec<_> = settings.iter().map(|s| (s.key, s.value.as_str())).collect();
    assert_eq!(
        keys,
        vec![
            (ThpKey::Enabled, "never"),
            (ThpKey::Size(9), "always"),
            (ThpKey::MaxPtesNone, "16"),
            (ThpKey::ShmemSize(9), "never")
        ]
    );
    assert_eq!(
        parse_one("swap 1G"),
        StmtKind::Swap {
            size_bytes: 1 << 30
        }
    );
    assert_eq!(
        parse_one("file f 64K"),
        StmtKind::File {
            file: "f".into(),
            size_bytes: 64 * K
        }
    );
    assert_eq!(parse_one("spawn p"), StmtKind::Spawn { proc: "p".into() });
    assert_eq!(parse_one("shrink"), StmtKind::Shrink);
    assert_eq!(parse_one("khugepaged"), StmtKind::Khugepaged);
    assert_eq!(
        parse_one("expect stat 2M.split == -3"),
        StmtKind::ExpectStat {
            counter: "2M.split".into(),
            delta: -3
        }
    );
    assert_eq!(parse_one("observe stats"), StmtKind::ObserveStats);
}

#[test]
fn actions() {
    let a = |f| range("a", f);
    assert_eq!(
        op("map a 2M"),
        ProcOp::Map {
            region: "a".into(),
            size_bytes: 2 * M,
            kind: MapKind::Anon,
            prot: Prot::Rw,
            align_bytes: 2 * M
        }
    );
    assert_eq!(
        op("map a 4K align=64K prot=none file f shared"),
        ProcOp::Map {
            region: "a".into(),
            size_bytes: 4 * K,
            kind: MapKind::File {
                file: "f".into(),
                shared: true
            },
            prot: Prot::None,
            align_bytes: 64 * K
        }
    );
    assert_eq!(
        strip(op("unmap a[4K..8K]")),
        ProcOp::Unmap {
            range: a(RangeForm::Span {
                start_bytes: 4 * K,
                end_bytes: 8 * K
            })
        }
    );
    assert_eq!(
        strip(op("protect a+0x1000 r")),
        ProcOp::Protect {
            range: a(RangeForm::Page {
                offset_bytes: 4 * K
            }),
            prot: Prot::R
        }
    );
    assert_eq!(
        strip(op("advise a populate_read")),
        ProcOp::Advise {
            range: a(RangeForm::Whole),
            advice: Advice::PopulateRead
        }
    );
    assert_eq!(
        strip(op("move a[0..+64K] b shift=4K")),
        ProcOp::Move {
            range: a(RangeForm::Len {
                start_bytes: 0,
                len_bytes: 64 * K
            }),
            new_region: "b".into(),
            align_bytes: 2 * M,
            shift_bytes: 4 * K
        }
    );
    assert_eq!(
        strip(op("write a 0xAA")),
        ProcOp::Write {
            range: a(RangeForm::Whole),
            value: 0xaa
        }
    );
    assert_eq!(
        strip(op("read a")),
        ProcOp::Read {
            range: a(RangeForm::Whole)
        }
    );
    assert_eq!(op("fork c"), ProcOp::Fork { child: "c".into() });
    assert_eq!(op("exit"), ProcOp::Exit);
    assert_eq!(
        strip(op("pin k a fast short")),
        ProcOp::Pin {
            name: "k".into(),
            range: a(RangeForm::Whole),
            write: true,
            longterm: false,
            fast: true
        }
    );
    assert_eq!(
        strip(op("splice q a")),
        ProcOp::Splice {
            name: "q".into(),
            range: a(RangeForm::Whole)
        }
    );
    assert_eq!(op("release q"), ProcOp::Release { name: "q".into() });
    assert_eq!(
        strip(op("migrate a")),
        ProcOp::Migrate {
            range: a(RangeForm::Whole)
        }
    );
    assert_eq!(
        strip(op("remember s a")),
        ProcOp::Remember {
            snapshot: "s".into(),
            range: a(RangeForm::Whole)
        }
    );
    assert_eq!(
        strip(op("observe a")),
        ProcOp::Observe {
            range: a(RangeForm::Whole)
        }
    );
    assert_eq!(
        op("observe smaps a"),
        ProcOp::ObserveSmaps { region: "a".into() }
    );
}

#[test]
fn expectations() {
    let a = || range("a", RangeForm::Whole);
    assert_eq!(
        strip(op("expect a == 1_0")),
        ProcOp::ExpectValue {
            range: a(),
            value: 10
        }
    );
    assert_eq!(
        strip(op("expect a same s at 8K")),
        ProcOp::ExpectSame {
            range: a(),
            snapshot: "s".into(),
            at_bytes: Some(8 * K)
        }
    );
    assert_eq!(
        strip(op("expect a new s")),
        ProcOp::ExpectNew {
            range: a(),
            snapshot: "s".into(),
            at_bytes: None
        }
    );
    for (w, st) in [
        ("present", PageState::Present),
        ("zeropage", PageState::Zeropage),
        ("swapped", PageState::Swapped),
        ("none", PageState::None),
    ] {
        assert_eq!(
            strip(op(&format!("expect a {w}"))),
            ProcOp::ExpectState {
                range: a(),
                state: st
            }
        );
    }
    assert_eq!(
        strip(op("expect a mapcount == 2")),
        ProcOp::ExpectMapcount {
            range: a(),
            mapcount: 2
        }
    );
    assert_eq!(
        strip(op("expect a shared")),
        ProcOp::ExpectExclusive {
            range: a(),
            exclusive: false
        }
    );
    assert_eq!(
        strip(op("expect a pmd")),
        ProcOp::ExpectPmd {
            range: a(),
            pmd: true
        }
    );
    assert_eq!(
        strip(op("expect a order == 4")),
        ProcOp::ExpectOrder {
            range: a(),
            order: 4
        }
    );
    assert_eq!(op("expect faults == 1"), ProcOp::ExpectFaults { faults: 1 });
    assert_eq!(
        op("expect smaps a anon_huge == 2M"),
        ProcOp::ExpectSmaps {
            region: "a".into(),
            field: SmapsField::AnonHuge,
            size_bytes: 2 * M
        }
    );
    assert_eq!(
        op("expect rss shmem == 3"),
        ProcOp::ExpectRss {
            kind: RssKind::Shmem,
            pages: 3
        }
    );
    assert_eq!(
        op("expect pipe q == 0x11"),
        ProcOp::ExpectPipe {
            name: "q".into(),
            value: 0x11
        }
    );
    assert_eq!(
        op("expect pin k == 0x11"),
        ProcOp::ExpectPin {
            name: "k".into(),
            value: 0x11
        }
    );
    assert_eq!(
        strip(op("expect folio a slot1 == c:2")),
        ProcOp::ExpectFolio {
            range: a(),
            field: FolioField::Slot1,
            value: FieldValue::Slot {
                proc: "c".into(),
                count: 2
            }
        }
    );
    assert_eq!(
        strip(op("expect folio a maybe_shared == true")),
        ProcOp::ExpectFolio {
            range: a(),
            field: FolioField::MaybeShared,
            value: FieldValue::Bool(true)
        }
    );
    assert_eq!(
        strip(op("expect page a page_mapcount == 0")),
        ProcOp::ExpectPage {
            range: a(),
            field: PageField::PageMapcount,
            value: FieldValue::Int(0)
        }
    );
}

#[test]
fn comments_blank_lines_and_positions() {
    let text = "# head\n\n  scenario 1   # version\n\tspawn p\n";
    let s = parse("x.scn", text).expect("parses");
    assert_eq!(
        s.items[0],
        Item::Comment {
            line: 1,
            text: " head".into()
        }
    );
    let Item::Stmt(st) = &s.items[1] else {
        panic!("stmt")
    };
    assert_eq!(st.pos, Pos { line: 3, column: 3 });
    assert_eq!(st.comment.as_deref(), Some(" version"));
    let Item::Stmt(st) = &s.items[2] else {
        panic!("stmt")
    };
    assert_eq!(st.pos, Pos { line: 4, column: 2 });
    assert_eq!(print(&s), "# head\n\nscenario 1 # version\nspawn p\n");
}

#[test]
fn printer_is_canonical() {
    let text = "scenario 1\nspawn p\np: map a 0x200000 anon prot=rw align=2M\np: write a[0x0..+4096] 255\np: pin k a rw longterm\n";
    let s = parse("x.scn", text).expect("parses");
    validate(&s).expect("valid");
    assert_eq!(
        print(&s),
        "scenario 1\nspawn p\np: map a 2M\np: write a[0..+4K] 0xff\np: pin k a\n"
    );
}
