//! Spec 4.1 records back from their JSON lines: the guest renders every record with
//! [`foliolab_driver::render_json`]; the host parses it back into the same [`Record`], so
//! `check --kernel` compares a VM's records exactly as it compares the host kernel's.

use foliolab_driver::{
    ExpectRecord, ExpectResult, PageRecord, ProblemKind, ProblemRecord, Record, SmapsRecord,
    StatsRecord, SummaryRecord,
};
use foliolab_scenario::SmapsField;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Why a line is not a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError(pub String);

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad record: {}", self.0)
    }
}

type Obj = Map<String, Value>;

fn bad(what: impl Into<String>) -> RecordError {
    RecordError(what.into())
}

fn u64_of(o: &Obj, k: &str) -> Result<u64, RecordError> {
    o.get(k)
        .and_then(Value::as_u64)
        .ok_or_else(|| bad(format!("field {k} is not an unsigned number")))
}

fn i64_of(o: &Obj, k: &str) -> Result<i64, RecordError> {
    o.get(k)
        .and_then(Value::as_i64)
        .ok_or_else(|| bad(format!("field {k} is not a number")))
}

fn str_of(o: &Obj, k: &str) -> Result<String, RecordError> {
    o.get(k)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| bad(format!("field {k} is not a string")))
}

fn line_of(o: &Obj) -> Result<u32, RecordError> {
    u32::try_from(u64_of(o, "line")?).map_err(|_| bad("line out of range"))
}

/// A nullable field: `null` is `None`; anything else must parse with `f`.
fn nullable<T>(
    o: &Obj,
    k: &str,
    f: impl Fn(&Value) -> Option<T>,
) -> Result<Option<T>, RecordError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => f(v)
            .map(Some)
            .ok_or_else(|| bad(format!("field {k} has the wrong type"))),
    }
}

/// Parses one JSON line of [`foliolab_driver::render_json`].
pub fn parse_record(line: &str) -> Result<Record, RecordError> {
    let v: Value = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
    let o = v.as_object().ok_or_else(|| bad("not an object"))?;
    match str_of(o, "kind")?.as_str() {
        "page" => page(o).map(Record::Page),
        "smaps" => smaps(o).map(Record::Smaps),
        "stats" => stats(o).map(Record::Stats),
        "expect" => expect(o).map(Record::Expect),
        "problem" => problem(o).map(Record::Problem),
        "summary" => summary(o).map(Record::Summary),
        k => Err(bad(format!("unknown kind {k:?}"))),
    }
}

fn page(o: &Obj) -> Result<PageRecord, RecordError> {
    let flags = o
        .get("flags")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("flags is not an array"))?
        .iter()
        .map(|f| f.as_str().map(str::to_string).ok_or_else(|| bad("flag")))
        .collect::<Result<Vec<_>, _>>()?;
    let order = nullable(o, "order", |v| {
        v.as_u64().and_then(|n| u8::try_from(n).ok())
    })?;
    Ok(PageRecord {
        line: line_of(o)?,
        proc: str_of(o, "proc")?,
        region: str_of(o, "region")?,
        offset_bytes: u64_of(o, "offset")?,
        state: str_of(o, "state")?,
        frame: nullable(o, "frame", |v| v.as_str().map(str::to_string))?,
        folio: nullable(o, "folio", |v| v.as_str().map(str::to_string))?,
        order,
        index: nullable(o, "index", Value::as_u64)?,
        mapcount: nullable(o, "mapcount", Value::as_u64)?,
        exclusive: nullable(o, "exclusive", Value::as_bool)?,
        pmd: nullable(o, "pmd", Value::as_bool)?,
        flags,
        model: o.get("model").cloned(),
    })
}

fn smaps(o: &Obj) -> Result<SmapsRecord, RecordError> {
    let mut fields_kb = BTreeMap::new();
    for f in SmapsField::ALL {
        fields_kb.insert(f, u64_of(o, f.name())?);
    }
    Ok(SmapsRecord {
        line: line_of(o)?,
        proc: str_of(o, "proc")?,
        region: str_of(o, "region")?,
        vma_start_bytes: u64_of(o, "vma_start")?,
        vma_end_bytes: u64_of(o, "vma_end")?,
        fields_kb,
    })
}

fn stats(o: &Obj) -> Result<StatsRecord, RecordError> {
    let c = o
        .get("counters")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("counters is not an object"))?;
    let counters = c
        .iter()
        .map(|(k, v)| {
            v.as_i64()
                .map(|n| (k.clone(), n))
                .ok_or_else(|| bad(format!("counter {k}")))
        })
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    Ok(StatsRecord {
        line: line_of(o)?,
        counters,
    })
}

fn expect(o: &Obj) -> Result<ExpectRecord, RecordError> {
    let r = str_of(o, "result")?;
    let result = match r.as_str() {
        "pass" => ExpectResult::Pass,
        "fail" => ExpectResult::Fail,
        s => match s.strip_prefix("skipped(").and_then(|s| s.strip_suffix(')')) {
            Some(why) => ExpectResult::Skipped(why.to_string()),
            None => return Err(bad(format!("result {s:?}"))),
        },
    };
    Ok(ExpectRecord {
        line: line_of(o)?,
        text: str_of(o, "text")?,
        result,
        expected: str_of(o, "expected")?,
        observed: str_of(o, "observed")?,
    })
}

fn problem(o: &Obj) -> Result<ProblemRecord, RecordError> {
    let kind = match str_of(o, "problem")?.as_str() {
        "leak" => ProblemKind::Leak,
        "wrong_read" => ProblemKind::WrongRead,
        "invariant" => ProblemKind::Invariant,
        "oracle" => ProblemKind::Oracle,
        "run_error" => ProblemKind::RunError,
        k => return Err(bad(format!("problem kind {k:?}"))),
    };
    Ok(ProblemRecord {
        line: line_of(o)?,
        kind,
        message: str_of(o, "message")?,
    })
}

fn summary(o: &Obj) -> Result<SummaryRecord, RecordError> {
    Ok(SummaryRecord {
        runner: str_of(o, "runner")?,
        pass: u64_of(o, "pass")?,
        fail: u64_of(o, "fail")?,
        skipped: u64_of(o, "skipped")?,
        leaks: u64_of(o, "leaks")?,
        exit: i32::try_from(i64_of(o, "exit")?).map_err(|_| bad("exit out of range"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use foliolab_driver::render_json;

    fn round(r: Record) {
        let line = render_json(&r);
        assert_eq!(parse_record(&line), Ok(r), "{line}");
    }

    #[test]
    fn every_kind_round_trips() {
        round(Record::Page(PageRecord {
            line: 7,
            proc: "p".into(),
            region: "a".into(),
            offset_bytes: 0x3000,
            state: "present".into(),
            frame: Some("p3".into()),
            folio: Some("f1".into()),
            order: Some(4),
            index: Some(3),
            mapcount: Some(2),
            exclusive: Some(false),
            pmd: None,
            flags: vec!["ANON".into(), "THP".into()],
            model: None,
        }));
        round(Record::Page(PageRecord {
            line: 1,
            proc: "q".into(),
            region: "b \"x\"".into(),
            offset_bytes: 0,
            state: "none".into(),
            frame: None,
            folio: None,
            order: None,
            index: None,
            mapcount: None,
            exclusive: None,
            pmd: Some(true),
            flags: vec![],
            model: Some(serde_json::json!({"refcount": 3})),
        }));
        round(Record::Smaps(SmapsRecord {
            line: 3,
            proc: "p".into(),
            region: "a".into(),
            vma_start_bytes: 0,
            vma_end_bytes: 0x20_0000,
            fields_kb: SmapsField::ALL.iter().map(|f| (*f, 4)).collect(),
        }));
        round(Record::Stats(StatsRecord {
            line: 9,
            counters: [("thp_split_pmd".to_string(), 1), ("2M.nr_anon".into(), -1)]
                .into_iter()
                .collect(),
        }));
        for result in [
            ExpectResult::Pass,
            ExpectResult::Fail,
            ExpectResult::Skipped("kernel".into()),
        ] {
            round(Record::Expect(ExpectRecord {
                line: 4,
                text: "p: expect a pmd".into(),
                result,
                expected: "pmd".into(),
                observed: "pte\nx".into(),
            }));
        }
        round(Record::Problem(ProblemRecord {
            line: 5,
            kind: ProblemKind::RunError,
            message: "a.scn:5:1: write: SIGSEGV".into(),
        }));
        round(Record::Summary(SummaryRecord {
            runner: "kernel:6.1.0-57-amd64".into(),
            pass: 3,
            fail: 1,
            skipped: 2,
            leaks: 0,
            exit: 1,
        }));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse_record("not json").is_err());
        assert!(parse_record("{\"kind\":\"page\",\"line\":1}").is_err());
        assert!(parse_record("{\"kind\":\"nope\",\"line\":1}").is_err());
    }
}
