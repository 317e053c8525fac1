//! `check --kernel K --records DIR`: the kernel's side of `check` from the records a VM run
//! kept with `--save DIR` (docs/kernel-measurements/<era>/ holds them for every generation),
//! so the era models are judged by their kernels without booting one.

use crate::run::combine;
use crate::vm::{check_end, ModelSide, Outcome, Saver};
use anyhow::Context;
use foliolab_driver::Record;
use foliolab_scenario::Scenario;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The file a saved run keeps for scenario `name` with extension `ext`: the name as given,
/// or relative to the current directory when it is an absolute path under it.
fn saved(dir: &Path, name: &str, ext: &str) -> PathBuf {
    let rel = std::env::current_dir()
        .ok()
        .and_then(|cwd| {
            Path::new(name)
                .strip_prefix(cwd)
                .ok()
                .map(Path::to_path_buf)
        })
        .unwrap_or_else(|| PathBuf::from(name));
    Saver::path(dir, &rel.to_string_lossy(), ext)
}

/// The counters the saved kernel showed (`counters = ...` of DIR/facts.txt).
fn saved_counters(dir: &Path) -> anyhow::Result<Option<BTreeSet<String>>> {
    let p = dir.join("facts.txt");
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("read {}", p.display())),
    };
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("counters = "))
        .map(|v| v.split_whitespace().map(String::from).collect()))
}

/// One scenario's saved outcome; `None` when the directory has nothing for it.
fn saved_outcome(dir: &Path, name: &str) -> anyhow::Result<Option<Outcome>> {
    let read = |ext: &str| std::fs::read_to_string(saved(dir, name, ext)).ok();
    let mut o = Outcome::default();
    if let Some(t) = read("unsupported") {
        o.unsupported = t.lines().map(String::from).collect();
        o.exit = 3;
    } else if let Some(t) = read("error") {
        o.errors = t.lines().map(String::from).collect();
        o.exit = 2;
    } else if let Some(t) = read("jsonl") {
        for (i, l) in t.lines().enumerate() {
            if let Some(e) = l.strip_prefix("# error: ") {
                o.errors.push(e.to_string());
                continue;
            }
            let r = foliolab_probe::vm::records::parse_record(l).map_err(|e| {
                anyhow::anyhow!("{}:{}: {e}", saved(dir, name, "jsonl").display(), i + 1)
            })?;
            if let Record::Summary(s) = &r {
                o.exit = s.exit;
            }
            o.records.push(r);
        }
    } else {
        return Ok(None);
    }
    Ok(Some(o))
}

/// Compares every scenario of `job` under `model` with its saved kernel records in `dir`; a
/// scenario without any is an error (exit 2) naming the file it looked for.
pub fn check_saved(
    dir: &Path,
    job: &[(String, Scenario)],
    model: &ModelSide,
    mut code: u8,
) -> anyhow::Result<u8> {
    if !dir.is_dir() {
        anyhow::bail!("--records {}: not a directory", dir.display());
    }
    let counters = saved_counters(dir)?;
    for (name, s) in job {
        let Some(mut o) = saved_outcome(dir, name)? else {
            let why = format!(
                "{name}: error: no kernel record ({} is missing)",
                saved(dir, name, "jsonl").display()
            );
            crate::say::error(name, &why);
            crate::say::end(name, 2);
            code = combine(code, 2);
            continue;
        };
        o.counters = counters.clone();
        let c = check_end(model, name, s, o);
        crate::say::end(name, c);
        code = combine(code, c);
    }
    Ok(code)
}
