//! `/proc/PID/maps` snapshots: what the recorder reads while the program runs to learn the
//! files behind mappings and the mappings `execve` made (no tracepoint reports either).

/// One line of `/proc/PID/maps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapsEntry {
    pub start: u64,
    pub end: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    pub shared: bool,
    /// File offset in bytes.
    pub offset: u64,
    /// `major:minor` as printed.
    pub dev: String,
    pub inode: u64,
    /// The path, `[stack]`, `[heap]`, `[vdso]`, ... or empty for anonymous memory.
    pub path: String,
}

impl MapsEntry {
    /// Parses one line; `None` if it is not a maps line.
    pub fn parse(line: &str) -> Option<MapsEntry> {
        let mut it = line.splitn(6, char::is_whitespace);
        let (range, perms, offset, dev, inode) =
            (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
        let path = it.next().unwrap_or("").trim_start().to_string();
        let (s, e) = range.split_once('-')?;
        let p = perms.as_bytes();
        if p.len() < 4 {
            return None;
        }
        Some(MapsEntry {
            start: u64::from_str_radix(s, 16).ok()?,
            end: u64::from_str_radix(e, 16).ok()?,
            read: p[0] == b'r',
            write: p[1] == b'w',
            exec: p[2] == b'x',
            shared: p[3] == b's',
            offset: u64::from_str_radix(offset, 16).ok()?,
            dev: dev.to_string(),
            inode: inode.parse().ok()?,
            path,
        })
    }

    /// A mapping of a file (or of a shmem object, a memfd, SysV shared memory).
    pub fn is_file(&self) -> bool {
        self.inode != 0 && !self.path.starts_with('[')
    }

    /// Mappings that are no memory a scenario can hold: the vDSO pages and devices other
    /// than `/dev/zero`.
    pub fn is_special(&self) -> bool {
        matches!(
            self.path.as_str(),
            "[vdso]" | "[vvar]" | "[vvar_vclock]" | "[vsyscall]" | "[uprobes]"
        ) || (self.path.starts_with("/dev/")
            && !self.path.starts_with("/dev/shm/")
            && !self.path.starts_with("/dev/zero"))
    }

    /// `/dev/zero`: private mappings of it are anonymous, shared ones shmem.
    pub fn is_dev_zero(&self) -> bool {
        self.path.starts_with("/dev/zero")
    }
}

/// One snapshot: the task it was taken for and its mappings, with the size of every file
/// seen in it (`st_size`, by `dev:inode`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub tid: i32,
    pub entries: Vec<MapsEntry>,
    pub file_sizes: Vec<(String, u64, u64)>,
}

/// The text of the markers that bracket snapshot `id` in the trace.
pub fn marker(id: u64, end: bool) -> String {
    format!("foliolab-snap {id} {}", if end { "end" } else { "begin" })
}

/// The snapshot id and whether it is the end marker.
pub fn parse_marker(text: &str) -> Option<(u64, bool)> {
    let mut it = text.strip_prefix("foliolab-snap ")?.split(' ');
    let id = it.next()?.parse().ok()?;
    let end = match it.next()? {
        "end" => true,
        "begin" => false,
        _ => return None,
    };
    Some((id, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_maps_lines() {
        let e = MapsEntry::parse(
            "7f12a0000000-7f12a0021000 r-xp 00002000 08:01 1234    /usr/lib/libc.so.6",
        )
        .unwrap();
        assert_eq!(
            (e.start, e.end, e.offset, e.inode),
            (0x7f12a0000000, 0x7f12a0021000, 0x2000, 1234)
        );
        assert!(e.read && !e.write && e.exec && !e.shared && e.is_file());
        let s = MapsEntry::parse("7ffc1000-7ffc2000 rw-p 00000000 00:00 0  [stack]").unwrap();
        assert!(!s.is_file() && !s.is_special());
        let a = MapsEntry::parse("1000-2000 rw-s 00000000 00:01 99 /dev/zero (deleted)").unwrap();
        assert!(a.is_dev_zero() && !a.is_special());
        assert!(MapsEntry::parse("1000-2000 ---p 0 00:00 0 [vvar]")
            .unwrap()
            .is_special());
        assert_eq!(parse_marker(&marker(7, true)), Some((7, true)));
        assert_eq!(parse_marker("other"), None);
    }
}
