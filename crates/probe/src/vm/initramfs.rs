//! The guest's initramfs: the foliolab executable as `/foliolab` (started by the kernel as
//! init, `rdinit=/foliolab`), the shared libraries it needs at the paths `ldd` names (none
//! for a static build), the modules to load, and the job: every scenario's text.

use super::cpio::Cpio;
use super::modules::Module;
use super::VmError;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the guest finds its job.
pub const JOB_DIR: &str = "job";
/// Where the guest finds its modules, loaded in name order.
pub const MODULES_DIR: &str = "modules";
/// The executable's path in the guest.
pub const GUEST_EXE: &str = "/foliolab";

/// One scenario of a job: its index (stable across boots), display name and text.
#[derive(Clone, Debug)]
pub struct JobScenario {
    pub index: usize,
    pub name: String,
    pub text: String,
}

/// The libraries `ldd` lists for `exe` (and the program interpreter), as absolute paths.
pub fn shared_libraries(exe: &Path) -> Result<Vec<PathBuf>, VmError> {
    let out = Command::new("ldd")
        .arg(exe)
        .output()
        .map_err(|_| VmError::Missing {
            tool: "ldd".into(),
            package: "libc-bin".into(),
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("not a dynamic executable") || text.contains("statically linked") {
        return Ok(Vec::new());
    }
    if !out.status.success() {
        return Err(VmError::Guest(format!(
            "ldd {}: {}",
            exe.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(parse_ldd(&text))
}

/// Paths from `ldd` output: `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x..)` and
/// `/lib64/ld-linux-x86-64.so.2 (0x..)`.
pub fn parse_ldd(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let path = match l.split_once("=>") {
                Some((_, rhs)) => rhs.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// A copy of `exe` without debug information, cached by path, size and modification time
/// (`strip` from binutils; without it, the executable as it is).
fn stripped(exe: &Path, cache_dir: &Path) -> Result<Vec<u8>, VmError> {
    let meta =
        std::fs::metadata(exe).map_err(|e| VmError::io(format!("stat {}", exe.display()), e))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let key = super::kernel::fnv1a(format!("{}|{}|{mtime}", exe.display(), meta.len()).as_bytes());
    let out = cache_dir.join(format!("guest-{key:016x}"));
    if let Ok(b) = std::fs::read(&out) {
        return Ok(b);
    }
    let _ = std::fs::create_dir_all(cache_dir);
    let tmp = out.with_extension("tmp");
    let ok = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&tmp)
        .arg(exe)
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        // Only the current executable's copy is kept.
        for old in std::fs::read_dir(cache_dir).into_iter().flatten().flatten() {
            if old.file_name().to_string_lossy().starts_with("guest-") {
                let _ = std::fs::remove_file(old.path());
            }
        }
        if std::fs::rename(&tmp, &out).is_ok() {
            return std::fs::read(&out)
                .map_err(|e| VmError::io(format!("read {}", out.display()), e));
        }
    }
    std::fs::read(exe).map_err(|e| VmError::io(format!("read {}", exe.display()), e))
}

fn add_parents(c: &mut Cpio, made: &mut BTreeSet<String>, path: &str) {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    for i in 1..parts.len() {
        let d = parts[..i].join("/");
        if made.insert(d.clone()) {
            c.dir(&d);
        }
    }
}

/// The archive for one boot.
pub fn build(
    exe: &Path,
    cache_dir: &Path,
    modules: &[Module],
    job: &[JobScenario],
) -> Result<Vec<u8>, VmError> {
    let mut c = Cpio::new();
    let mut made = BTreeSet::new();
    for d in ["dev", "proc", "sys", "run", "tmp", JOB_DIR, MODULES_DIR] {
        made.insert(d.to_string());
        c.dir(d);
    }
    c.char_dev("dev/console", 5, 1);
    c.file(&GUEST_EXE[1..], 0o755, &stripped(exe, cache_dir)?);
    for lib in shared_libraries(exe)? {
        let data =
            std::fs::read(&lib).map_err(|e| VmError::io(format!("read {}", lib.display()), e))?;
        let name = lib.to_string_lossy().trim_start_matches('/').to_string();
        add_parents(&mut c, &mut made, &name);
        c.file(&name, 0o755, &data);
    }
    for (i, m) in modules.iter().enumerate() {
        c.file(
            &format!("{MODULES_DIR}/{i:02}-{}.ko", m.name),
            0o644,
            &m.elf,
        );
    }
    let mut index = String::new();
    for s in job {
        index.push_str(&format!(
            "{}\t{}\n",
            s.index,
            s.name.replace(['\t', '\n'], " ")
        ));
        c.file(
            &format!("{JOB_DIR}/{}.scn", s.index),
            0o644,
            s.text.as_bytes(),
        );
    }
    c.file(&format!("{JOB_DIR}/index"), 0o644, index.as_bytes());
    Ok(c.finish())
}

/// The job's index lines: (index, name).
pub fn parse_index(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .filter_map(|l| {
            let (i, n) = l.split_once('\t')?;
            Some((i.parse().ok()?, n.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ldd_lines() {
        let t = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                 \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f4b)\n\
                 \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f4b)\n\
                 \t/lib64/ld-linux-x86-64.so.2 (0x00007f4b)\n";
        assert_eq!(
            parse_ldd(t),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }
    #[test]
    fn index_round_trip() {
        let v = parse_index("0\ttests/a.scn\n12\tb c.scn\nbad\n");
        assert_eq!(
            v,
            vec![(0, "tests/a.scn".to_string()), (12, "b c.scn".to_string())]
        );
    }
}
