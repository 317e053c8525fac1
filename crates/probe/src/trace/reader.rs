//! Reading the instance's per-CPU buffers while the program runs: raw pages kept as they
//! come, and the events that need a `/proc/PID/maps` snapshot right away (an exec, a file
//! mmap, a shmat) answered between two markers written to the instance's `trace_marker`.

use crate::error::{ProbeError, Result};
use foliolab_record::event::{Decoder, Event, Syscall};
use foliolab_record::maps::{marker, MapsEntry, Snapshot};
use foliolab_record::ring::{parse_page, Lost};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

const MAP_ANONYMOUS: u64 = 0x20;

pub struct Reader {
    fds: Vec<File>,
    pub pages: Vec<Vec<u8>>,
    pub page_size: usize,
    decoder: Decoder,
    marker: Option<File>,
    pending_mmap: BTreeSet<i32>,
    wanted: BTreeSet<i32>,
    pub snapshots: BTreeMap<u64, Snapshot>,
    seen_files: BTreeSet<(String, u64)>,
    /// Pages that said events were lost before them, and how many when the kernel said.
    pub lost_pages: u64,
    pub lost_events: u64,
    pub events: u64,
    pub faults: u64,
    pub tasks: u64,
}

impl Reader {
    pub fn open(
        inst: &super::tracefs::Instance,
        cpus: &[usize],
        decoder: Decoder,
    ) -> Result<Reader> {
        let page_size = inst
            .read("buffer_subbuf_size_kb")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .map_or(4096, |kb| kb * 1024);
        let mut fds = Vec::new();
        for c in cpus {
            let p = inst.path(&format!("per_cpu/cpu{c}/trace_pipe_raw"));
            let f = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&p)
                .map_err(|e| ProbeError::io(format!("open {}", p.display()), e))?;
            fds.push(f);
        }
        let mp = inst.path("trace_marker");
        let marker = std::fs::OpenOptions::new()
            .write(true)
            .open(&mp)
            .map_err(|e| ProbeError::io(format!("open {}", mp.display()), e))?;
        Ok(Reader {
            pages: vec![Vec::new(); fds.len()],
            fds,
            page_size,
            decoder,
            marker: Some(marker),
            pending_mmap: BTreeSet::new(),
            wanted: BTreeSet::new(),
            snapshots: BTreeMap::new(),
            seen_files: BTreeSet::new(),
            lost_pages: 0,
            lost_events: 0,
            events: 0,
            faults: 0,
            tasks: 0,
        })
    }

    /// Reads every page available now; whether any was.
    pub fn drain_once(&mut self) -> Result<bool> {
        let mut got = false;
        let mut buf = vec![0u8; self.page_size];
        for i in 0..self.fds.len() {
            loop {
                match self.fds[i].read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        got = true;
                        buf[n..].fill(0);
                        self.scan(&buf)?;
                        self.pages[i].extend_from_slice(&buf);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(ProbeError::io("read trace_pipe_raw", e)),
                }
            }
        }
        Ok(got)
    }

    /// Looks at a new page: lost events, counters, snapshot triggers.
    fn scan(&mut self, page: &[u8]) -> Result<()> {
        let parsed = parse_page(page).map_err(|e| ProbeError::Host(e.to_string()))?;
        match parsed.lost {
            Lost::None => {}
            Lost::Count(n) => {
                self.lost_pages += 1;
                self.lost_events += n;
            }
            Lost::Unknown => self.lost_pages += 1,
        }
        for (_, rec) in parsed.events {
            self.events += 1;
            match self.decoder.decode(rec) {
                Some(Event::Fault { .. }) => self.faults += 1,
                Some(Event::SysEnter {
                    tid,
                    call: Syscall::Mmap,
                    args,
                }) if args[3] & MAP_ANONYMOUS == 0 => {
                    self.pending_mmap.insert(tid);
                }
                Some(Event::SysExit {
                    tid,
                    call: Syscall::Mmap,
                    ret,
                }) => {
                    let want = self.pending_mmap.remove(&tid) && ret >= 0;
                    self.wanted.extend(want.then_some(tid));
                }
                Some(Event::SysExit {
                    tid,
                    call: Syscall::Shmat,
                    ret,
                }) if ret >= 0 => {
                    self.wanted.insert(tid);
                }
                Some(Event::Exec { pid, .. }) => {
                    self.tasks += 1;
                    self.wanted.insert(pid);
                }
                Some(Event::NewTask { .. }) => self.tasks += 1,
                _ => {}
            }
        }
        Ok(())
    }

    /// Takes the snapshots asked for since the last call.
    pub fn take_snapshots(&mut self) -> Result<()> {
        let wanted = std::mem::take(&mut self.wanted);
        for tid in wanted {
            let id = self.snapshots.len() as u64 + 1;
            self.mark(&marker(id, false))?;
            let snap = self.read_maps(tid);
            self.mark(&marker(id, true))?;
            if let Some(s) = snap {
                self.snapshots.insert(id, s);
            }
        }
        Ok(())
    }

    fn mark(&mut self, text: &str) -> Result<()> {
        let m = self
            .marker
            .as_mut()
            .ok_or_else(|| ProbeError::Host("trace_marker closed".into()))?;
        m.write_all(text.as_bytes())
            .map_err(|e| ProbeError::io("write trace_marker", e))
    }

    /// `/proc/TID/maps` and the size of every file not seen before; `None` when the task
    /// is already gone.
    fn read_maps(&mut self, tid: i32) -> Option<Snapshot> {
        let text = std::fs::read_to_string(format!("/proc/{tid}/maps")).ok()?;
        let entries: Vec<MapsEntry> = text.lines().filter_map(MapsEntry::parse).collect();
        let mut file_sizes = Vec::new();
        for e in entries.iter().filter(|e| e.is_file()) {
            let key = (e.dev.clone(), e.inode);
            if self.seen_files.contains(&key) {
                continue;
            }
            let link = format!("/proc/{tid}/map_files/{:x}-{:x}", e.start, e.end);
            if let Ok(m) = std::fs::metadata(&link) {
                file_sizes.push((e.dev.clone(), e.inode, m.size()));
                self.seen_files.insert(key);
            }
        }
        Some(Snapshot {
            tid,
            entries,
            file_sizes,
        })
    }

    /// Waits up to `ms` for data on any buffer.
    pub fn wait(&self, ms: i32) {
        use std::os::fd::AsRawFd;
        let mut fds: Vec<libc::pollfd> = self
            .fds
            .iter()
            .map(|f| libc::pollfd {
                fd: f.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: a valid array of pollfd.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    }

    /// Bytes of raw pages kept.
    pub fn bytes(&self) -> usize {
        self.pages.iter().map(Vec::len).sum()
    }

    /// Closes the buffers (the instance can only be removed once nobody reads it).
    pub fn close(&mut self) {
        self.fds.clear();
        self.marker = None;
    }
}
