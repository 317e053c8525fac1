//! Kernel modules for the guest: found by name in a modules tree, decompressed on the host
//! (`.ko.xz`, `.ko.zst`, `.ko.gz`), their dependencies read from the `.modinfo` section and
//! put first, so the guest loads them in order with `finit_module` and needs no modprobe.

use super::image::{decompress, Compression};
use std::path::{Path, PathBuf};

/// One module ready for the guest: its name and its uncompressed ELF.
#[derive(Clone, Debug)]
pub struct Module {
    pub name: String,
    pub elf: Vec<u8>,
}

/// `zram` and `zram.ko.xz` name the same module; `-` and `_` are the same in module names.
fn module_name(file: &str) -> Option<String> {
    let base = file.split(".ko").next()?;
    if !file.contains(".ko") {
        return None;
    }
    Some(base.replace('-', "_"))
}

/// Every module file under `dir`, by module name (the first found wins).
fn index(dir: &Path, out: &mut std::collections::BTreeMap<String, PathBuf>, depth: u32) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() && depth < 12 {
            index(&p, out, depth + 1);
        } else if let Some(n) = p.file_name().and_then(|n| n.to_str()).and_then(module_name) {
            out.entry(n).or_insert(p);
        }
    }
}

/// The uncompressed module file.
fn read_module(path: &Path) -> Result<Vec<u8>, String> {
    let b = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    if b.starts_with(b"\x7fELF") {
        return Ok(b);
    }
    let c = Compression::detect(&b)
        .ok_or_else(|| format!("{}: neither ELF nor a known compression", path.display()))?;
    decompress(c, &b).map_err(|e| format!("{}: {e}", path.display()))
}

/// The `key=value` strings of the `.modinfo` section of a module ELF.
pub fn modinfo(elf: &[u8]) -> Vec<(String, String)> {
    section(elf, ".modinfo")
        .map(|s| {
            s.split(|&c| c == 0)
                .filter_map(|kv| std::str::from_utf8(kv).ok())
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn section<'a>(b: &'a [u8], want: &str) -> Option<&'a [u8]> {
    let u16_at = |o: usize| Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?) as usize);
    let u64_at = |o: usize| Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?) as usize);
    let u32_at = |o: usize| Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?) as usize);
    if b.get(..5)? != b"\x7fELF\x02" {
        return None;
    }
    let (shoff, shentsize, shnum, shstrndx) =
        (u64_at(0x28)?, u16_at(0x3a)?, u16_at(0x3c)?, u16_at(0x3e)?);
    let sh = |i: usize| shoff + i * shentsize;
    let strtab_off = u64_at(sh(shstrndx) + 0x18)?;
    for i in 0..shnum {
        let name_off = strtab_off + u32_at(sh(i))?;
        let name = b.get(name_off..)?.split(|&c| c == 0).next()?;
        if name == want.as_bytes() {
            let off = u64_at(sh(i) + 0x18)?;
            let size = u64_at(sh(i) + 0x20)?;
            return b.get(off..off.checked_add(size)?);
        }
    }
    None
}

/// `wanted` and everything it depends on, found under `dir`, dependencies first. A module
/// listed in `builtin` (the kernel's `modules.builtin`, names only) needs no file.
pub fn resolve(dir: &Path, wanted: &[&str], builtin: &[String]) -> Result<Vec<Module>, String> {
    let mut files = std::collections::BTreeMap::new();
    index(dir, &mut files, 0);
    let mut out: Vec<Module> = Vec::new();
    for w in wanted {
        add(&files, &w.replace('-', "_"), builtin, &mut out, 0)?;
    }
    Ok(out)
}

fn add(
    files: &std::collections::BTreeMap<String, PathBuf>,
    name: &str,
    builtin: &[String],
    out: &mut Vec<Module>,
    depth: u32,
) -> Result<(), String> {
    if out.iter().any(|m| m.name == name) || builtin.iter().any(|b| b == name) {
        return Ok(());
    }
    if depth > 16 {
        return Err(format!("module dependencies too deep at {name}"));
    }
    let path = files
        .get(name)
        .ok_or_else(|| format!("module {name} not found"))?;
    let elf = read_module(path)?;
    let deps: Vec<String> = modinfo(&elf)
        .into_iter()
        .filter(|(k, _)| k == "depends")
        .flat_map(|(_, v)| {
            v.split(',')
                .filter(|d| !d.is_empty())
                .map(|d| d.replace('-', "_"))
                .collect::<Vec<_>>()
        })
        .collect();
    for d in deps {
        add(files, &d, builtin, out, depth + 1)?;
    }
    out.push(Module {
        name: name.to_string(),
        elf,
    });
    Ok(())
}

/// Module names of a `modules.builtin` file (`kernel/mm/zsmalloc.ko` lines).
pub fn builtin_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.rsplit('/').next())
        .filter_map(module_name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn names() {
        assert_eq!(module_name("zram.ko.xz").as_deref(), Some("zram"));
        assert_eq!(module_name("zsmalloc.ko").as_deref(), Some("zsmalloc"));
        assert_eq!(
            module_name("lz4-compress.ko.zst").as_deref(),
            Some("lz4_compress")
        );
        assert_eq!(module_name("modules.order"), None);
        assert_eq!(
            builtin_names("kernel/mm/zsmalloc.ko\nkernel/lib/lz4/lz4_compress.ko\n"),
            vec!["zsmalloc".to_string(), "lz4_compress".to_string()]
        );
    }
    #[test]
    fn modinfo_of_a_non_elf_is_empty() {
        assert!(modinfo(b"garbage").is_empty());
    }
}
