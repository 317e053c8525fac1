//! A small JSON Schema validator for the subset docs/foliolab-output.schema.json uses
//! (draft 2020-12: `type`, `const`, `enum`, `properties`, `required`,
//! `additionalProperties`, `items`, `oneOf`, `minimum`, local `$ref`). A keyword outside the
//! subset is an error, so the schema cannot use one this validator would silently ignore.

use serde_json::{Map, Value};

/// Keywords that only annotate.
const ANNOTATIONS: &[&str] = &["$schema", "$id", "$defs", "title", "description"];

pub struct Schema {
    root: Value,
}

impl Schema {
    pub fn load() -> Schema {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/foliolab-output.schema.json"
        );
        let text = std::fs::read_to_string(path).expect("the schema file");
        Schema {
            root: serde_json::from_str(&text).expect("the schema is JSON"),
        }
    }

    /// Every way `value` breaks the schema (empty when it is valid).
    pub fn errors(&self, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(&self.root, value, "$", &mut errors);
        errors
    }

    /// Panics with the record and its errors unless `line` is one valid record.
    pub fn assert_line(&self, line: &str) {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        let errors = self.errors(&v);
        assert!(errors.is_empty(), "{line}\nbreaks the schema: {errors:#?}");
    }

    fn resolve<'a>(&'a self, reference: &str) -> &'a Value {
        let path = reference.strip_prefix("#/").expect("a local $ref");
        let v = path.split('/').fold(&self.root, |v, key| &v[key]);
        assert!(v.is_object(), "unresolved $ref {reference}");
        v
    }

    fn check(&self, schema: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
        let Some(s) = schema.as_object() else {
            panic!("a schema must be an object at {at}: {schema}");
        };
        for (key, arg) in s {
            match key.as_str() {
                k if ANNOTATIONS.contains(&k) => {}
                "$ref" => self.check(self.resolve(arg.as_str().unwrap()), v, at, errors),
                "type" => type_ok(arg, v, at, errors),
                "const" if v != arg => errors.push(format!("{at}: {v} is not {arg}")),
                "enum" if !arg.as_array().unwrap().contains(v) => {
                    errors.push(format!("{at}: {v} is not one of {arg}"))
                }
                "const" | "enum" => {}
                "minimum" => {
                    if v.as_f64().is_some_and(|n| n < arg.as_f64().unwrap()) {
                        errors.push(format!("{at}: {v} < {arg}"));
                    }
                }
                "properties" | "required" | "additionalProperties" => {
                    if let Some(obj) = v.as_object() {
                        self.object_keyword(key, arg, s, obj, at, errors);
                    }
                }
                "items" => {
                    for (i, item) in v.as_array().into_iter().flatten().enumerate() {
                        self.check(arg, item, &format!("{at}[{i}]"), errors);
                    }
                }
                "oneOf" => self.one_of(arg, v, at, errors),
                other => panic!("schema keyword `{other}` at {at} is outside the subset"),
            }
        }
    }

    fn object_keyword(
        &self,
        key: &str,
        arg: &Value,
        s: &Map<String, Value>,
        obj: &Map<String, Value>,
        at: &str,
        errors: &mut Vec<String>,
    ) {
        match key {
            "properties" => {
                for (name, sub) in arg.as_object().unwrap() {
                    if let Some(x) = obj.get(name) {
                        self.check(sub, x, &format!("{at}.{name}"), errors);
                    }
                }
            }
            "required" => {
                for name in arg.as_array().unwrap() {
                    let name = name.as_str().unwrap();
                    if !obj.contains_key(name) {
                        errors.push(format!("{at}: missing `{name}`"));
                    }
                }
            }
            _ => {
                let known = s.get("properties").and_then(Value::as_object);
                for (name, x) in obj {
                    if known.is_some_and(|k| k.contains_key(name)) {
                        continue;
                    }
                    match arg {
                        Value::Bool(false) => errors.push(format!("{at}: unexpected `{name}`")),
                        Value::Bool(true) => {}
                        sub => self.check(sub, x, &format!("{at}.{name}"), errors),
                    }
                }
            }
        }
    }

    fn one_of(&self, arg: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
        let branches = arg.as_array().unwrap();
        let results: Vec<Vec<String>> = branches
            .iter()
            .map(|b| {
                let mut e = Vec::new();
                self.check(b, v, at, &mut e);
                e
            })
            .collect();
        let valid = results.iter().filter(|e| e.is_empty()).count();
        if valid != 1 {
            // The branch of the record's own kind says the most.
            let closest = results
                .iter()
                .min_by_key(|e| e.len())
                .cloned()
                .unwrap_or_default();
            errors.push(format!(
                "{at}: matches {valid} of the oneOf branches, not 1"
            ));
            errors.extend(closest);
        }
    }
}

fn type_ok(arg: &Value, v: &Value, at: &str, errors: &mut Vec<String>) {
    let names: Vec<&str> = match arg {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => panic!("bad type keyword at {at}"),
    };
    let ok = names.iter().any(|t| match *t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        other => panic!("unknown type {other} at {at}"),
    });
    if !ok {
        errors.push(format!("{at}: {v} is not of type {arg}"));
    }
}

#[test]
fn the_validator_rejects_what_breaks_the_schema() {
    let s = Schema::load();
    let good = r#"{"schema_version":1,"file":"x","kind":"problem","line":3,"problem":"leak","message":"m"}"#;
    s.assert_line(good);
    for bad in [
        r#"{"schema_version":2,"file":"x","kind":"problem","line":3,"problem":"leak","message":"m"}"#,
        r#"{"schema_version":1,"kind":"problem","line":3,"problem":"leak","message":"m"}"#,
        r#"{"schema_version":1,"file":"x","kind":"problem","line":-1,"problem":"leak","message":"m"}"#,
        r#"{"schema_version":1,"file":"x","kind":"problem","line":3,"problem":"frob","message":"m"}"#,
        r#"{"schema_version":1,"file":"x","kind":"nothing","line":3}"#,
        r#"{"schema_version":1,"file":"x","kind":"expect","line":3,"text":"t","result":"fail","expected":"1","observed":"0x0: false","expected_value":1,"observed_value":[{"start":"0x0","end":4096,"value":false}]}"#,
    ] {
        let v: Value = serde_json::from_str(bad).unwrap();
        assert!(!s.errors(&v).is_empty(), "accepted: {bad}");
    }
}
