//! The function-length ratchet: no function (free, method or trait default) is longer than
//! `MAX_FUNCTION_LINES` lines, from `fn` to its closing brace, except those listed in
//! `long-functions.txt` with their length. The list may only shrink: a listed function that
//! grew past its entry, shrank under the limit or disappeared fails too, so the list always
//! says exactly what is left to split.

use foliolab_rules::MAX_FUNCTION_LINES;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use syn::visit::Visit;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Functions of one file: `path::Type::name` (or `path::name`) to its length in lines.
struct Lengths {
    file: String,
    scope: Vec<String>,
    out: BTreeMap<String, usize>,
}

impl Lengths {
    fn record(&mut self, name: &syn::Ident, sig: &syn::Signature, block: &syn::Block) {
        let first = sig.fn_token.span.start().line;
        let last = block.brace_token.span.close().end().line;
        let mut key = vec![self.file.clone()];
        key.extend(self.scope.iter().cloned());
        key.push(name.to_string());
        let mut k = key.join("::");
        while self.out.contains_key(&k) {
            k.push('\'');
        }
        self.out.insert(k, last + 1 - first);
    }
}

fn type_name(t: &syn::Type) -> String {
    match t {
        syn::Type::Path(p) => p
            .path
            .segments
            .last()
            .map_or("?".into(), |s| s.ident.to_string()),
        _ => "?".into(),
    }
}

impl<'ast> Visit<'ast> for Lengths {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.record(&f.sig.ident, &f.sig, &f.block);
        self.scope.push(f.sig.ident.to_string());
        syn::visit::visit_item_fn(self, f);
        self.scope.pop();
    }
    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        let mut name = type_name(&i.self_ty);
        if let Some((tr, _)) = &i.trait_ {
            let t = tr
                .segments
                .last()
                .map_or("?".into(), |s| s.ident.to_string());
            name = format!("<{name} as {t}>");
        }
        self.scope.push(name);
        syn::visit::visit_item_impl(self, i);
        self.scope.pop();
    }
    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.record(&f.sig.ident, &f.sig, &f.block);
        syn::visit::visit_impl_item_fn(self, f);
    }
    fn visit_item_trait(&mut self, t: &'ast syn::ItemTrait) {
        self.scope.push(t.ident.to_string());
        syn::visit::visit_item_trait(self, t);
        self.scope.pop();
    }
    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(b) = &f.default {
            self.record(&f.sig.ident, &f.sig, b);
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        self.scope.push(m.ident.to_string());
        syn::visit::visit_item_mod(self, m);
        self.scope.pop();
    }
}

/// Every function of the repository's Rust sources and its length.
fn all_lengths() -> BTreeMap<String, usize> {
    let mut files = Vec::new();
    for dir in ["crates", "tools", "fuzz"] {
        rust_files(&repo().join(dir), &mut files);
    }
    files.sort();
    assert!(files.len() >= 100, "only {} Rust files found", files.len());
    let mut all = BTreeMap::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let rel = f.strip_prefix(repo()).unwrap().display().to_string();
        let mut v = Lengths {
            file: rel,
            scope: Vec::new(),
            out: BTreeMap::new(),
        };
        v.visit_file(&ast);
        all.extend(v.out);
    }
    all
}

/// `long-functions.txt`: `LINES NAME` per line, `#` comments.
fn allowed() -> BTreeMap<String, usize> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("long-functions.txt"))
            .unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (n, name) = l.split_once(' ').expect("LINES NAME");
            (name.trim().to_string(), n.parse().expect("a line count"))
        })
        .collect()
}

#[test]
fn no_function_grows_over_the_limit() {
    let all = all_lengths();
    let allowed = allowed();
    let mut bad = Vec::new();
    for (name, &len) in all.iter().filter(|(_, &n)| n > MAX_FUNCTION_LINES) {
        match allowed.get(name) {
            None => bad.push(format!(
                "{name}: {len} lines (over {MAX_FUNCTION_LINES}: split it)"
            )),
            Some(&max) if len > max => {
                bad.push(format!("{name}: grew from {max} to {len} lines (split it)"))
            }
            Some(_) => {}
        }
    }
    for (name, &max) in &allowed {
        match all.get(name) {
            None => bad.push(format!(
                "{name}: listed ({max} lines) but gone: remove it from long-functions.txt"
            )),
            Some(&len) if len <= MAX_FUNCTION_LINES => bad.push(format!(
                "{name}: {len} lines now: remove it from long-functions.txt"
            )),
            Some(_) => {}
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_scanner_measures_functions() {
    let all = all_lengths();
    assert!(all.len() > 1000, "only {} functions found", all.len());
    let me = all
        .iter()
        .find(|(k, _)| k.ends_with("function_length.rs::no_function_grows_over_the_limit"))
        .expect("this test finds itself");
    assert!((20..60).contains(me.1), "{}: {} lines", me.0, me.1);
}
