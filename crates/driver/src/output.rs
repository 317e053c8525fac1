//! The command line's JSON output, schema version [`OUTPUT_SCHEMA_VERSION`]
//! (docs/json-schema.md, docs/foliolab-output.schema.json).
//!
//! A record of spec 4.1 ([`crate::render_json`], what runners exchange and what
//! docs/kernel-measurements keeps) becomes an output record by gaining, in front,
//! `schema_version` and `file`, and, on `expect` records, the typed forms of `expected` and
//! `observed` (`expected_value`, `observed_value`): numbers, booleans, names, and per-page
//! runs as objects with `start`/`end` offsets. Every key of spec 4.1 keeps its name, type
//! and order, so a consumer of spec 4.1 reads output records unchanged.

use crate::record::Record;
use crate::render::render_json;
use serde_json::{json, Value};

/// The version of the output schema: bumped when a key changes meaning or type (adding a
/// key or a record kind is not a change).
pub const OUTPUT_SCHEMA_VERSION: u32 = 1;

/// `{"schema_version":1,"file":F,` and then the members of `object` (a JSON object text).
pub fn stamp(file: Option<&str>, object: &str) -> String {
    let body = object.strip_prefix('{').unwrap_or(object);
    let sep = if body.starts_with('}') { "" } else { "," };
    format!(
        "{{\"schema_version\":{OUTPUT_SCHEMA_VERSION},\"file\":{}{sep}{body}",
        json!(file)
    )
}

/// A record about no one scenario (a whole suite, the cost model): `schema_version`, `file`
/// null, `kind`, `line` 0, then the members of `object` (a JSON object text).
pub fn suite_record(kind: &str, object: &str) -> String {
    let body = object.strip_prefix('{').unwrap_or(object);
    let sep = if body.starts_with('}') { "" } else { "," };
    stamp(
        None,
        &format!("{{\"kind\":{},\"line\":0{sep}{body}", json!(kind)),
    )
}

/// One output record (one line, no newline) of a run's record from scenario `file`.
pub fn output_json(r: &Record, file: &str) -> String {
    let base = render_json(r);
    let Record::Expect(e) = r else {
        return stamp(Some(file), &base);
    };
    let typed = format!(
        ",\"expected_value\":{},\"observed_value\":{}}}",
        typed_scalar(&e.expected),
        typed_observed(&e.observed)
    );
    let open = base.strip_suffix('}').unwrap_or(&base);
    stamp(Some(file), &format!("{open}{typed}"))
}

/// An error record: a scenario that cannot run (invalid, unreadable, refused).
/// `rendered` is the whole diagnostic; its first line `FILE:LINE:COLUMN: reason` gives the
/// position when it has one (else line and column are 0).
pub fn error_json(file: &str, rendered: &str) -> String {
    let first = rendered.lines().next().unwrap_or("");
    let (line, column, message) = position(file, first);
    let v = json!({"kind": "error", "line": line, "column": column, "message": message,
        "rendered": rendered});
    stamp(Some(file), &v.to_string())
}

/// An `unsupported` record: what a runner cannot perform (exit 3); `runner` is `model`,
/// `kernel` or null.
pub fn unsupported_json(file: &str, runner: Option<&str>, what: &str) -> String {
    let v = json!({"kind": "unsupported", "line": 0, "runner": runner, "message": what});
    stamp(Some(file), &v.to_string())
}

/// `(line, column, reason)` of `FILE:LINE:COLUMN: reason`, or `(0, 0, text)`.
fn position(file: &str, first: &str) -> (u64, u64, String) {
    let rest = first.strip_prefix(file).and_then(|r| r.strip_prefix(':'));
    let parsed = rest.and_then(|r| {
        let mut it = r.splitn(3, ':');
        let line = it.next()?.parse().ok()?;
        let column = it.next()?.parse().ok()?;
        Some((line, column, it.next()?.trim_start().to_string()))
    });
    parsed.unwrap_or_else(|| {
        let reason = rest.map_or(first, str::trim_start);
        (0, 0, reason.to_string())
    })
}

/// The typed form of one value text of an outcome: `""` and `?` are null, decimal and
/// `0x` hex integers numbers, sizes (`64K`) numbers of bytes, `true`/`false` booleans, any
/// other word (`exclusive`, `pmd`, `none`, `same`, `not kept`, ...) a string.
pub fn typed_scalar(text: &str) -> Value {
    if text.is_empty() || text == "?" {
        return Value::Null;
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(n) = u64::from_str_radix(hex, 16) {
            return json!(n);
        }
    }
    if let Ok(n) = text.parse::<u64>() {
        return json!(n);
    }
    if let Ok(n) = text.parse::<i64>() {
        return json!(n);
    }
    match text {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    size_bytes(text).map_or_else(|| json!(text), |n| json!(n))
}

/// `64K`, `2M`, `1G`, `1T` as bytes (the printer's sizes).
fn size_bytes(text: &str) -> Option<u64> {
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    let shift = match unit {
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(1u64 << shift)
}

/// The typed form of an observed text: a list of runs when it is one (`0x0..0x3000: 1,
/// 0x3000: 2` → `[{"start":0,"end":12288,"value":1},{"start":12288,"end":16384,"value":2}]`;
/// `#1: 0x5` → `[{"index":1,"value":5}]`; `3 pages: 0xaa` → `[{"count":3,"value":170}]`;
/// `no pages` → `[]`), else a scalar.
pub fn typed_observed(text: &str) -> Value {
    if text == "no pages" {
        return json!([]);
    }
    let runs: Option<Vec<Value>> = text.split(", ").map(run).collect();
    runs.map_or_else(|| typed_scalar(text), Value::Array)
}

/// One run of an observed list, or None when `part` is not one.
fn run(part: &str) -> Option<Value> {
    let (head, value) = part.split_once(": ")?;
    let value = typed_scalar(value);
    if let Some(index) = head.strip_prefix('#') {
        return Some(json!({"index": index.parse::<u64>().ok()?, "value": value}));
    }
    if let Some(count) = head.strip_suffix(" pages") {
        return Some(json!({"count": count.parse::<u64>().ok()?, "value": value}));
    }
    let hex = |t: &str| u64::from_str_radix(t.strip_prefix("0x")?, 16).ok();
    let (start, end) = match head.split_once("..") {
        Some((a, b)) => (hex(a)?, hex(b)?),
        None => {
            let a = hex(head)?;
            (a, a.checked_add(foliolab_types::PAGE_SIZE)?)
        }
    };
    Some(json!({"start": start, "end": end, "value": value}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_texts_become_runs_or_scalars() {
        assert_eq!(
            typed_observed("0x0..0x3000: 1, 0x3000: false"),
            json!([{"start":0,"end":0x3000,"value":1},{"start":0x3000,"end":0x4000,"value":false}])
        );
        assert_eq!(typed_observed("#1: 0x5"), json!([{"index":1,"value":5}]));
        assert_eq!(
            typed_observed("3 pages: 0xaa"),
            json!([{"count":3,"value":170}])
        );
        assert_eq!(typed_observed("no pages"), json!([]));
        assert_eq!(typed_observed("-3"), json!(-3));
        assert_eq!(typed_observed("64K"), json!(65536));
        assert_eq!(
            typed_observed("0x0: not kept"),
            json!([{"start":0,"end":4096,"value":"not kept"}])
        );
        assert_eq!(typed_observed("same as before"), json!("same as before"));
        assert_eq!(typed_scalar(""), Value::Null);
        assert_eq!(typed_scalar("exclusive"), json!("exclusive"));
    }

    #[test]
    fn stamp_puts_version_and_file_first() {
        assert_eq!(
            stamp(Some("a.scn"), "{\"kind\":\"x\"}"),
            "{\"schema_version\":1,\"file\":\"a.scn\",\"kind\":\"x\"}"
        );
        assert_eq!(stamp(None, "{}"), "{\"schema_version\":1,\"file\":null}");
        assert_eq!(
            suite_record("costs", "{\"a\":1}"),
            "{\"schema_version\":1,\"file\":null,\"kind\":\"costs\",\"line\":0,\"a\":1}"
        );
        assert_eq!(
            suite_record("x", "{}"),
            "{\"schema_version\":1,\"file\":null,\"kind\":\"x\",\"line\":0}"
        );
    }

    #[test]
    fn error_positions_come_from_the_first_line() {
        let e = error_json("<stdin>", "<stdin>:2:5: unknown statement\n  |\n2 | frob\n");
        let v: Value = serde_json::from_str(&e).unwrap();
        assert_eq!(
            (v["line"].as_u64(), v["column"].as_u64()),
            (Some(2), Some(5))
        );
        assert_eq!(v["message"], "unknown statement");
        let e = error_json("x.scn", "x.scn: cannot read: No such file");
        let v: Value = serde_json::from_str(&e).unwrap();
        assert_eq!(
            (v["line"].as_u64(), v["message"].as_str()),
            (Some(0), Some("cannot read: No such file"))
        );
    }
}
