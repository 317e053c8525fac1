//! Kernel images: the x86 boot image (bzImage) and the uncompressed ELF `vmlinux` inside it.
//!
//! Under TCG a guest decompresses its own kernel slowly (seconds for XZ). QEMU boots an ELF
//! `vmlinux` directly through the PVH entry point when the ELF carries the Xen
//! `PHYS32_ENTRY` note (`CONFIG_PVH=y`), so the runner extracts the payload once, on the
//! host, with the matching decompressor, and boots that. Without the note, or without the
//! decompressor, it boots the bzImage.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The compression of a bzImage payload, from its magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Xz,
    Zstd,
    Lz4,
    Bzip2,
    Lzma,
    Lzo,
}

impl Compression {
    pub fn detect(b: &[u8]) -> Option<Compression> {
        let m: &[(&[u8], Compression)] = &[
            (&[0x1f, 0x8b], Compression::Gzip),
            (&[0xfd, b'7', b'z', b'X', b'Z', 0], Compression::Xz),
            (&[0x28, 0xb5, 0x2f, 0xfd], Compression::Zstd),
            (&[0x02, 0x21, 0x4c, 0x18], Compression::Lz4),
            (b"BZh", Compression::Bzip2),
            (&[0x5d, 0, 0], Compression::Lzma),
            (&[0x89, b'L', b'Z', b'O'], Compression::Lzo),
        ];
        m.iter().find(|(p, _)| b.starts_with(p)).map(|(_, c)| *c)
    }

    /// The decompressing command and the Debian package that has it.
    pub fn tool(self) -> (&'static str, &'static [&'static str], &'static str) {
        match self {
            Compression::Gzip => ("gzip", &["-dc"], "gzip"),
            Compression::Xz => ("xz", &["-dc"], "xz-utils"),
            Compression::Zstd => ("zstd", &["-dcq"], "zstd"),
            Compression::Lz4 => ("lz4", &["-dc"], "lz4"),
            Compression::Bzip2 => ("bzip2", &["-dc"], "bzip2"),
            Compression::Lzma => ("xz", &["--format=lzma", "-dc"], "xz-utils"),
            Compression::Lzo => ("lzop", &["-dc"], "lzop"),
        }
    }
}

/// The compressed payload of a bzImage (boot protocol 2.08+: `payload_offset` and
/// `payload_length` of the setup header), or `None` if `b` is not one.
pub fn bzimage_payload(b: &[u8]) -> Option<&[u8]> {
    if b.len() < 0x250 || &b[0x202..0x206] != b"HdrS" {
        return None;
    }
    let version = u16::from_le_bytes([b[0x206], b[0x207]]);
    if version < 0x208 {
        return None;
    }
    let setup_sects = match b[0x1f1] {
        0 => 4,
        n => n as usize,
    };
    let word = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]) as usize;
    let start = (setup_sects + 1) * 512 + word(0x248);
    let end = start.checked_add(word(0x24c))?;
    b.get(start..end)
}

/// Decompresses `data` with an external tool. A trailing size word some formats carry may
/// make the tool complain; the output counts if it is a complete ELF file.
pub fn decompress(c: Compression, data: &[u8]) -> Result<Vec<u8>, String> {
    let (tool, args, package) = c.tool();
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{tool} not found ({e}): install the Debian package {package}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let input = data.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{tool}: {e}"))?;
    let _ = writer.join();
    if out.stdout.is_empty() {
        return Err(format!("{tool} produced nothing"));
    }
    Ok(out.stdout)
}

/// The release a kernel image names (`6.1.0-57-amd64`): the bzImage header's
/// `kernel_version` string, or in an ELF `vmlinux` the text after `Linux version `.
pub fn image_release(b: &[u8]) -> Option<String> {
    let text = if b.len() > 0x210 && &b[0x202..0x206] == b"HdrS" {
        let off = 0x200 + u16::from_le_bytes([b[0x20e], b[0x20f]]) as usize;
        b.get(off..)?
    } else {
        const MARK: &[u8] = b"Linux version ";
        let at = b.windows(MARK.len()).position(|w| w == MARK)?;
        &b[at + MARK.len()..]
    };
    let end = text.iter().position(|&c| c == b' ' || c == 0)?;
    let release = std::str::from_utf8(&text[..end]).ok()?;
    (!release.is_empty()).then(|| release.to_string())
}

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

/// Whether `b` is a 64-bit little-endian ELF whose notes include Xen's `PHYS32_ENTRY`
/// (type 18): QEMU can boot it through PVH.
pub fn elf_has_pvh_note(b: &[u8]) -> bool {
    pvh_note(b).unwrap_or(false)
}

fn pvh_note(b: &[u8]) -> Option<bool> {
    if b.get(..6)? != b"\x7fELF\x02\x01" {
        return Some(false);
    }
    let phoff = u64_at(b, 0x20)? as usize;
    let phentsize = u16_at(b, 0x36)? as usize;
    let phnum = u16_at(b, 0x38)? as usize;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(b, ph)? != 4 {
            continue; // not PT_NOTE
        }
        let off = u64_at(b, ph + 8)? as usize;
        let size = u64_at(b, ph + 32)? as usize;
        if notes_have_pvh(b.get(off..off.checked_add(size)?)?) {
            return Some(true);
        }
    }
    Some(false)
}

fn notes_have_pvh(mut n: &[u8]) -> bool {
    let up4 = |x: usize| x.div_ceil(4) * 4;
    while n.len() >= 12 {
        let (Some(namesz), Some(descsz), Some(ty)) = (u32_at(n, 0), u32_at(n, 4), u32_at(n, 8))
        else {
            return false;
        };
        let (namesz, descsz) = (namesz as usize, descsz as usize);
        let name = n.get(12..12 + namesz).unwrap_or(&[]);
        if name == b"Xen\0" && ty == 18 {
            return true;
        }
        let next = 12 + up4(namesz) + up4(descsz);
        if next > n.len() {
            return false;
        }
        n = &n[next..];
    }
    false
}

/// Writes the PVH-bootable ELF of `image` (itself, or its decompressed payload) to `out`;
/// the error says why there is none (then the image itself boots).
pub fn extract_pvh_vmlinux(image: &Path, out: &Path) -> Result<(), String> {
    let b = std::fs::read(image).map_err(|e| format!("read {}: {e}", image.display()))?;
    if elf_has_pvh_note(&b) {
        std::fs::copy(image, out).map_err(|e| format!("copy to {}: {e}", out.display()))?;
        return Ok(());
    }
    let payload = bzimage_payload(&b).ok_or("not a bzImage (no HdrS 2.08+ header)")?;
    let c = Compression::detect(payload).ok_or("unknown payload compression")?;
    let elf = decompress(c, payload)?;
    if !elf_has_pvh_note(&elf) {
        return Err("the kernel has no PVH entry note (CONFIG_PVH unset)".into());
    }
    let tmp = out.with_extension("tmp");
    std::fs::write(&tmp, &elf).map_err(|e| format!("write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, out).map_err(|e| format!("rename {}: {e}", out.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(name: &[u8], ty: u32, desc: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(name.len() as u32).to_le_bytes());
        v.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        v.extend_from_slice(&ty.to_le_bytes());
        v.extend_from_slice(name);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v.extend_from_slice(desc);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    /// A minimal ELF64 with one PT_NOTE segment holding `notes`.
    fn elf(notes: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56];
        b[..6].copy_from_slice(b"\x7fELF\x02\x01");
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        b[64..68].copy_from_slice(&4u32.to_le_bytes());
        b[72..80].copy_from_slice(&120u64.to_le_bytes());
        b[96..104].copy_from_slice(&(notes.len() as u64).to_le_bytes());
        b.extend_from_slice(notes);
        b
    }

    #[test]
    fn pvh_note_found_only_when_there() {
        let mut n = note(b"GNU\0", 3, &[1, 2, 3, 4]);
        assert!(!elf_has_pvh_note(&elf(&n)));
        n.extend(note(b"Xen\0", 18, &[0, 0, 0, 1]));
        assert!(elf_has_pvh_note(&elf(&n)));
        assert!(!elf_has_pvh_note(&elf(&note(b"Xen\0", 17, &[0; 8]))));
        assert!(!elf_has_pvh_note(b"MZ not an elf"));
        assert!(!elf_has_pvh_note(&elf(&n)[..100]));
    }

    #[test]
    fn payload_and_magic() {
        let mut b = vec![0u8; 0x1000];
        b[0x1f1] = 1; // one setup sector: the protected-mode part starts at 1024
        b[0x202..0x206].copy_from_slice(b"HdrS");
        b[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
        b[0x248..0x24c].copy_from_slice(&16u32.to_le_bytes());
        b[0x24c..0x250].copy_from_slice(&6u32.to_le_bytes());
        b[1024 + 16..1024 + 22].copy_from_slice(&[0xfd, b'7', b'z', b'X', b'Z', 0]);
        let p = bzimage_payload(&b).unwrap();
        assert_eq!(p.len(), 6);
        assert_eq!(Compression::detect(p), Some(Compression::Xz));
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd, 9]),
            Some(Compression::Zstd)
        );
        assert_eq!(bzimage_payload(&b[..0x100]), None);
        // kernel_version: a string at 0x200 + the word at 0x20e.
        b[0x20e..0x210].copy_from_slice(&0x300u16.to_le_bytes());
        b[0x500..0x520].copy_from_slice(b"6.1.0-57-amd64 (debian-kernel@l)");
        assert_eq!(image_release(&b).as_deref(), Some("6.1.0-57-amd64"));
        let elf = b"\x7fELF....Linux version 7.2.13+deb14-amd64 (gcc) #1\0".to_vec();
        assert_eq!(image_release(&elf).as_deref(), Some("7.2.13+deb14-amd64"));
    }
}
