//! A writer of the "newc" cpio format (the initramfs format the kernel unpacks): directories,
//! regular files and character devices, every header and body padded to 4 bytes.

use std::io::{self, Write};

/// Builds an archive in memory; entries keep the order they are added in (a directory
/// before what it contains).
#[derive(Default)]
pub struct Cpio {
    out: Vec<u8>,
    next_ino: u32,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;

impl Cpio {
    pub fn new() -> Cpio {
        Cpio {
            out: Vec::new(),
            next_ino: 1,
        }
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    fn header(&mut self, name: &str, mode: u32, size: usize, rdev: (u32, u32)) {
        let ino = self.next_ino;
        self.next_ino += 1;
        let nlink = if mode & S_IFDIR != 0 { 2 } else { 1 };
        let fields = [
            ino,
            mode,
            0,
            0,
            nlink,
            0,
            size as u32,
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() as u32 + 1,
            0,
        ];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
    }

    /// A directory (`name` without a leading `/`).
    pub fn dir(&mut self, name: &str) {
        self.header(name, S_IFDIR | 0o755, 0, (0, 0));
    }

    /// A regular file with permission bits `perm`.
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.header(name, S_IFREG | (perm & 0o7777), data.len(), (0, 0));
        self.out.extend_from_slice(data);
        self.pad();
    }

    /// A character device node.
    pub fn char_dev(&mut self, name: &str, major: u32, minor: u32) {
        self.header(name, S_IFCHR | 0o600, 0, (major, minor));
    }

    /// The archive with its trailer.
    pub fn finish(mut self) -> Vec<u8> {
        self.header("TRAILER!!!", 0, 0, (0, 0));
        self.out
    }

    /// Writes the finished archive.
    pub fn write_to(self, w: &mut dyn Write) -> io::Result<()> {
        w.write_all(&self.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads back (name, mode, body) of every entry: the format, checked independently.
    fn entries(mut b: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let start = b.as_ptr() as usize;
        let align = |b: &mut &[u8]| {
            let off = b.as_ptr() as usize - start;
            *b = &b[(4 - off % 4) % 4..];
        };
        loop {
            assert_eq!(&b[..6], b"070701");
            let field = |i: usize| {
                u32::from_str_radix(std::str::from_utf8(&b[6 + 8 * i..14 + 8 * i]).unwrap(), 16)
                    .unwrap()
            };
            let (mode, size, namesize) = (field(1), field(6) as usize, field(11) as usize);
            let name = String::from_utf8(b[110..110 + namesize - 1].to_vec()).unwrap();
            b = &b[110 + namesize..];
            align(&mut b);
            if name == "TRAILER!!!" {
                return out;
            }
            out.push((name, mode, b[..size].to_vec()));
            b = &b[size..];
            align(&mut b);
        }
    }

    #[test]
    fn archive_reads_back() {
        let mut c = Cpio::new();
        c.dir("dev");
        c.char_dev("dev/console", 5, 1);
        c.file("init", 0o755, b"hello");
        c.file("job/a.scn", 0o644, b"spawn p\n");
        let b = c.finish();
        assert_eq!(b.len() % 4, 0);
        let e = entries(&b);
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].0, "dev");
        assert_eq!(e[1].1, S_IFCHR | 0o600);
        assert_eq!(
            e[2],
            ("init".to_string(), S_IFREG | 0o755, b"hello".to_vec())
        );
        assert_eq!(e[3].2, b"spawn p\n".to_vec());
    }
}
