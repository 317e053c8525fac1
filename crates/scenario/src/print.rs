//! The canonical printer (spec 4): largest exact units, lower-case hex values, options in the
//! order of the spec's tables, defaults omitted, comments kept.

use crate::ast::*;
use crate::parse_thp::thp_key_name;
use foliolab_types::format_size_bytes as size;

/// The whole scenario in canonical form, one statement or comment per line. A run of blank
/// lines in the source becomes one blank line.
pub fn print(s: &Scenario) -> String {
    let mut out = String::new();
    let mut prev_line: Option<u32> = None;
    for item in &s.items {
        let line = match item {
            Item::Stmt(st) => st.pos.line,
            Item::Comment { line, .. } => *line,
        };
        if prev_line.is_some_and(|p| line > p.saturating_add(1)) {
            out.push('\n');
        }
        prev_line = Some(line);
        match item {
            Item::Comment { text, .. } => out.push_str(&format!("#{text}")),
            Item::Stmt(st) => {
                out.push_str(&print_stmt(st));
                if let Some(c) = &st.comment {
                    out.push_str(&format!(" #{c}"));
                }
            }
        }
        out.push('\n');
    }
    out
}

/// One statement in canonical form, without its trailing comment.
pub fn print_stmt(st: &Stmt) -> String {
    match &st.kind {
        StmtKind::Scenario { version } => format!("scenario {version}"),
        StmtKind::Schemes { names } => format!("schemes {}", names.join(" ")),
        StmtKind::Thp { settings } => {
            let mut sorted: Vec<&ThpSetting> = settings.iter().collect();
            sorted.sort_by_key(|s| s.key);
            let kv: Vec<String> = sorted
                .iter()
                .map(|s| format!("{}={}", thp_key_name(s.key), s.value))
                .collect();
            format!("thp {}", kv.join(" "))
        }
        StmtKind::Swap { size_bytes } => format!("swap {}", size(*size_bytes)),
        StmtKind::File { file, size_bytes } => format!("file {file} {}", size(*size_bytes)),
        StmtKind::Spawn { proc } => format!("spawn {proc}"),
        StmtKind::Shrink => "shrink".into(),
        StmtKind::Khugepaged => "khugepaged".into(),
        StmtKind::ExpectStat { counter, delta } => format!("expect stat {counter} == {delta}"),
        StmtKind::ObserveStats => "observe stats".into(),
        StmtKind::Proc { proc, op } => format!("{proc}: {}", print_op(op)),
    }
}

/// A range as written (its form kept), numbers in canonical units.
pub fn print_range(r: &Range) -> String {
    match r.form {
        RangeForm::Whole => r.region.clone(),
        RangeForm::Page { offset_bytes } => format!("{}+{}", r.region, size(offset_bytes)),
        RangeForm::Span {
            start_bytes,
            end_bytes,
        } => {
            format!("{}[{}..{}]", r.region, size(start_bytes), size(end_bytes))
        }
        RangeForm::Len {
            start_bytes,
            len_bytes,
        } => {
            format!("{}[{}..+{}]", r.region, size(start_bytes), size(len_bytes))
        }
    }
}

fn print_op(op: &ProcOp) -> String {
    if let Some(s) = crate::v2::print_op(op) {
        return s;
    }
    match op {
        ProcOp::Map {
            region,
            size_bytes,
            kind,
            prot,
            align_bytes,
        } => {
            format!(
                "map {region} {}{}",
                size(*size_bytes),
                map_options(kind, *prot, *align_bytes)
            )
        }
        ProcOp::Unmap { range } => format!("unmap {}", print_range(range)),
        ProcOp::Protect { range, prot } => {
            format!("protect {} {}", print_range(range), prot.name())
        }
        ProcOp::Advise { range, advice } => {
            format!("advise {} {}", print_range(range), advice.name())
        }
        ProcOp::Move {
            range,
            new_region,
            align_bytes,
            shift_bytes,
        } => format!(
            "move {} {new_region}{}",
            print_range(range),
            placement_text(*align_bytes, *shift_bytes)
        ),
        ProcOp::Write { range, value } => format!("write {} {value:#x}", print_range(range)),
        ProcOp::Read { range } => format!("read {}", print_range(range)),
        ProcOp::Fork { child } => format!("fork {child}"),
        ProcOp::Exit => "exit".into(),
        ProcOp::Pin {
            name,
            range,
            write,
            longterm,
            fast,
        } => {
            let mut s = format!("pin {name} {}", print_range(range));
            s.push_str(if *write { "" } else { " ro" });
            s.push_str(if *longterm { "" } else { " short" });
            s.push_str(if *fast { " fast" } else { "" });
            s
        }
        ProcOp::Splice { name, range } => format!("splice {name} {}", print_range(range)),
        ProcOp::Release { name } => format!("release {name}"),
        ProcOp::Migrate { range } => format!("migrate {}", print_range(range)),
        ProcOp::Remember { snapshot, range } => {
            format!("remember {snapshot} {}", print_range(range))
        }
        ProcOp::Observe { range } => format!("observe {}", print_range(range)),
        ProcOp::ObserveSmaps { region } => format!("observe smaps {region}"),
        other => format!("expect {}", print_expect(other)),
    }
}

fn map_options(kind: &MapKind, prot: Prot, align_bytes: u64) -> String {
    let mut s = kind_text(kind);
    if prot != Prot::Rw {
        s.push_str(&format!(" prot={}", prot.name()));
    }
    s + &placement_text(align_bytes, 0)
}

/// ` align=A` and ` shift=OFF` (each with its leading space) where they are not the defaults.
pub(crate) fn placement_text(align_bytes: u64, shift_bytes: u64) -> String {
    let mut s = String::new();
    if align_bytes != DEFAULT_ALIGN_BYTES {
        s.push_str(&format!(" align={}", size(align_bytes)));
    }
    if shift_bytes != 0 {
        s.push_str(&format!(" shift={}", size(shift_bytes)));
    }
    s
}

/// The kind of a `map` as printed (with its leading space; empty for `anon`).
pub(crate) fn kind_text(kind: &MapKind) -> String {
    match kind {
        MapKind::Anon => String::new(),
        MapKind::Shmem => " shmem".into(),
        MapKind::File { file, shared } => {
            format!(
                " file {file} {}",
                if *shared { "shared" } else { "private" }
            )
        }
        MapKind::DriverMixedmap => " driver mixedmap".into(),
        MapKind::DriverPfnmap => " driver pfnmap".into(),
    }
}

/// The part of an expectation after `expect `.
fn print_expect(op: &ProcOp) -> String {
    match op {
        ProcOp::ExpectValue { range, value } => format!("{} == {value:#x}", print_range(range)),
        ProcOp::ExpectSame {
            range,
            snapshot,
            at_bytes,
        } => {
            format!("{} same {snapshot}{}", print_range(range), at(*at_bytes))
        }
        ProcOp::ExpectNew {
            range,
            snapshot,
            at_bytes,
        } => {
            format!("{} new {snapshot}{}", print_range(range), at(*at_bytes))
        }
        ProcOp::ExpectState { range, state } => format!("{} {}", print_range(range), state.name()),
        ProcOp::ExpectMapcount { range, mapcount } => {
            format!("{} mapcount == {mapcount}", print_range(range))
        }
        ProcOp::ExpectExclusive { range, exclusive } => {
            format!(
                "{} {}",
                print_range(range),
                if *exclusive { "exclusive" } else { "shared" }
            )
        }
        ProcOp::ExpectPmd { range, pmd } => {
            format!(
                "{} {}",
                print_range(range),
                if *pmd { "pmd" } else { "pte" }
            )
        }
        ProcOp::ExpectOrder { range, order } => format!("{} order == {order}", print_range(range)),
        ProcOp::ExpectFaults { faults } => format!("faults == {faults}"),
        ProcOp::ExpectSmaps {
            region,
            field,
            size_bytes,
        } => {
            format!("smaps {region} {} == {}", field.name(), size(*size_bytes))
        }
        ProcOp::ExpectRss { kind, pages } => format!("rss {} == {pages}", kind.name()),
        ProcOp::ExpectPipe { name, value } => format!("pipe {name} == {value:#x}"),
        ProcOp::ExpectPin { name, value } => format!("pin {name} == {value:#x}"),
        ProcOp::ExpectFolio {
            range,
            field,
            value,
        } => {
            format!(
                "folio {} {} == {}",
                print_range(range),
                field.name(),
                field_value(value)
            )
        }
        ProcOp::ExpectPage {
            range,
            field,
            value,
        } => {
            format!(
                "page {} {} == {}",
                print_range(range),
                field.name(),
                field_value(value)
            )
        }
        _ => String::new(),
    }
}

fn at(at_bytes: Option<u64>) -> String {
    at_bytes.map_or(String::new(), |a| format!(" at {}", size(a)))
}

fn field_value(v: &FieldValue) -> String {
    match v {
        FieldValue::Int(n) => n.to_string(),
        FieldValue::Bool(b) => b.to_string(),
        FieldValue::Slot { proc, count } => format!("{proc}:{count}"),
        FieldValue::NoSlot => "none".into(),
    }
}
