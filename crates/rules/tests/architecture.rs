//! Every crate's `Cargo.toml` and sources against its row of `foliolab_rules::CRATES`.

use foliolab_rules::{CrateRule, CRATES, DEV_ONLY, IO_PATTERNS, UNORDERED_PATTERNS};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The workspace members listed in the root `Cargo.toml`.
fn members() -> Vec<String> {
    let text = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let start = text.find("members").expect("a members list");
    let list = &text[start..text[start..].find(']').unwrap() + start];
    list.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Package name and every dependency of a manifest, each with its section
/// (`dependencies`, `dev-dependencies`, `build-dependencies`, or a target's).
fn manifest(text: &str) -> (String, Vec<(String, String)>) {
    let mut name = String::new();
    let mut deps = Vec::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.trim_matches(|c| c == '[' || c == ']').to_string();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if section == "package" && key == "name" {
            name = value.trim().trim_matches('"').to_string();
        }
        if section.ends_with("dependencies") && !key.is_empty() && !key.starts_with('#') {
            let dep = key.split('.').next().unwrap().trim().to_string();
            deps.push((dep, section.clone()));
        }
    }
    (name, deps)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Source lines with `//` comments removed (doc comments may name what code may not use).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split("//").next().unwrap_or("").to_string()))
        .collect()
}

/// Every rule broken by one crate's library sources (`src/`).
fn source_violations(rule: &CrateRule) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&repo().join(rule.dir).join("src"), &mut files);
    files.sort();
    assert!(!files.is_empty(), "{}: no sources found", rule.dir);
    let mut out = Vec::new();
    for f in &files {
        for (n, line) in code_lines(f) {
            let at = || format!("{}:{n}", f.strip_prefix(repo()).unwrap_or(f).display());
            if !rule.io {
                for p in IO_PATTERNS.iter().filter(|p| line.contains(**p)) {
                    out.push(format!("{}: I/O (`{p}`) outside probe and cli", at()));
                }
            }
            if !rule.anyhow && (line.contains("anyhow::") || line.contains("anyhow!")) {
                out.push(format!("{}: anyhow outside cli", at()));
            }
            if rule.model_state {
                for p in UNORDERED_PATTERNS.iter().filter(|p| line.contains(**p)) {
                    out.push(format!("{}: {p} in model state", at()));
                }
            }
        }
    }
    out
}

fn dependency_violations(rule: &CrateRule) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join(rule.dir).join("Cargo.toml")).unwrap();
    manifest_violations(rule, &text)
}

/// Every rule broken by the manifest `text` of the crate `rule` describes.
fn manifest_violations(rule: &CrateRule, text: &str) -> Vec<String> {
    let (name, deps) = manifest(text);
    let mut out = Vec::new();
    for (d, section) in deps {
        let workspace = d.starts_with("foliolab") || d == "cowgen";
        let dev_only = DEV_ONLY.contains(&d.as_str());
        if dev_only && !section.ends_with("dev-dependencies") {
            out.push(format!(
                "{name} depends on {d} in [{section}]: test support, dev-dependencies only"
            ));
        }
        if workspace && !dev_only && !rule.may_depend_on.contains(&d.as_str()) {
            out.push(format!(
                "{name} depends on {d}, which its rule does not allow"
            ));
        }
        if d == "anyhow" && !rule.anyhow {
            out.push(format!(
                "{name} depends on anyhow (typed errors outside cli)"
            ));
        }
        if d == "libc" && !rule.io {
            out.push(format!(
                "{name} depends on libc (I/O outside probe and cli)"
            ));
        }
    }
    out
}

#[test]
fn every_member_has_exactly_one_rule() {
    let members = members();
    assert!(members.len() >= 12, "only {} members found", members.len());
    for m in &members {
        let n = CRATES.iter().filter(|r| r.dir == m).count();
        assert_eq!(
            n, 1,
            "{m}: add one row for it to foliolab_rules::CRATES (crates/rules/src/lib.rs)"
        );
    }
    for r in CRATES {
        assert!(
            members.iter().any(|m| m == r.dir),
            "{}: not a member",
            r.dir
        );
    }
}

#[test]
fn dependencies_follow_the_architecture() {
    let bad: Vec<String> = CRATES.iter().flat_map(dependency_violations).collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn sources_follow_the_architecture() {
    let bad: Vec<String> = CRATES.iter().flat_map(source_violations).collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The checks catch what they are for: a forbidden dependency, test support outside
/// dev-dependencies, I/O, anyhow and a HashMap.
#[test]
fn the_checks_catch_violations() {
    let model = CRATES.iter().find(|r| r.dir == "crates/model").unwrap();
    let probe = CrateRule {
        may_depend_on: &["foliolab-types"],
        ..*CRATES.iter().find(|r| r.dir == "crates/probe").unwrap()
    };
    assert!(!dependency_violations(&probe).is_empty(), "probe -> driver");
    let uses_testkit = |section: &str| {
        let text = format!(
            "[package]\nname = \"foliolab-model\"\n[{section}]\nfoliolab-testkit.workspace = true\n"
        );
        manifest_violations(model, &text)
    };
    assert!(
        uses_testkit("dev-dependencies").is_empty(),
        "tests may walk folders"
    );
    assert!(
        !uses_testkit("dependencies").is_empty(),
        "a library may not"
    );
    let strict = CrateRule {
        io: false,
        anyhow: false,
        model_state: true,
        ..*CRATES.iter().find(|r| r.dir == "crates/cli").unwrap()
    };
    let v = source_violations(&strict).join("\n");
    assert!(v.contains("I/O"), "cli prints");
    assert!(v.contains("anyhow outside cli"), "cli uses anyhow");
    assert!(source_violations(model).is_empty());
    let fake = CrateRule {
        dir: "crates/rules",
        io: false,
        ..*model
    };
    assert!(source_violations(&fake)
        .join("\n")
        .contains("HashMap in model state"));
}

/// The model reaches its design only through `crates/model/src/rmap.rs`: no other file names
/// the scheme or calls an rmap event method on it.
#[test]
fn the_model_calls_its_design_only_in_rmap() {
    let mut files = Vec::new();
    rust_files(&repo().join("crates/model/src"), &mut files);
    assert!(files.len() >= 20, "only {} model sources", files.len());
    let mut bad = Vec::new();
    for f in files.iter().filter(|f| !f.ends_with("rmap.rs")) {
        for (n, line) in code_lines(f) {
            if line.contains("scheme.") || line.contains(".scheme") {
                bad.push(format!("{}:{n}: {}", f.display(), line.trim()));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
