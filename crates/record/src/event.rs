//! The events a recording uses, and their decoding from ring-buffer records.

use crate::format::{read_i64, read_str, read_u64, Field, Format, FormatError};
use std::collections::BTreeMap;

/// The system calls a recording traces (entry and exit events of each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Syscall {
    Mmap,
    Munmap,
    Mremap,
    Mprotect,
    Madvise,
    Brk,
    Shmat,
    Shmdt,
    Clone,
    Clone3,
    Fork,
    Vfork,
    Execve,
    Execveat,
    ExitGroup,
}

impl Syscall {
    pub const ALL: [Syscall; 15] = [
        Syscall::Mmap,
        Syscall::Munmap,
        Syscall::Mremap,
        Syscall::Mprotect,
        Syscall::Madvise,
        Syscall::Brk,
        Syscall::Shmat,
        Syscall::Shmdt,
        Syscall::Clone,
        Syscall::Clone3,
        Syscall::Fork,
        Syscall::Vfork,
        Syscall::Execve,
        Syscall::Execveat,
        Syscall::ExitGroup,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Syscall::Mmap => "mmap",
            Syscall::Munmap => "munmap",
            Syscall::Mremap => "mremap",
            Syscall::Mprotect => "mprotect",
            Syscall::Madvise => "madvise",
            Syscall::Brk => "brk",
            Syscall::Shmat => "shmat",
            Syscall::Shmdt => "shmdt",
            Syscall::Clone => "clone",
            Syscall::Clone3 => "clone3",
            Syscall::Fork => "fork",
            Syscall::Vfork => "vfork",
            Syscall::Execve => "execve",
            Syscall::Execveat => "execveat",
            Syscall::ExitGroup => "exit_group",
        }
    }
}

/// A decoded event. `tid` is the task that caused it (`common_pid`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `exceptions:page_fault_user` / `page_fault_kernel` (a kernel-mode fault on a user
    /// address: `copy_to_user` and friends). `write` is bit 1 of the x86 error code.
    Fault {
        tid: i32,
        addr: u64,
        write: bool,
        kernel: bool,
    },
    SysEnter {
        tid: i32,
        call: Syscall,
        /// The arguments in the order of the format file.
        args: [u64; 6],
    },
    SysExit {
        tid: i32,
        call: Syscall,
        ret: i64,
    },
    /// `task:task_newtask`, in the parent's context.
    NewTask {
        parent: i32,
        child: i32,
        clone_flags: u64,
    },
    /// `sched:sched_process_exec`: `old_pid` is the tid that called execve, `pid` the one it
    /// has after (the thread-group leader's).
    Exec {
        pid: i32,
        old_pid: i32,
        filename: String,
    },
    /// `sched:sched_process_exit`: one task ended.
    Exit {
        tid: i32,
    },
    /// A line written to the instance's `trace_marker` (`ftrace:print`).
    Marker {
        text: String,
    },
}

/// An event with its timestamp (the instance's `global` trace clock, ns) and CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stamped {
    pub ts: u64,
    pub cpu: u32,
    pub event: Event,
}

/// Every event a recording enables, as `SYSTEM/NAME` (the marker event `ftrace/print` is
/// always on and not listed).
pub fn enabled_events() -> Vec<String> {
    let mut v = vec![
        "exceptions/page_fault_user".to_string(),
        "exceptions/page_fault_kernel".to_string(),
        "task/task_newtask".to_string(),
        "sched/sched_process_exec".to_string(),
        "sched/sched_process_exit".to_string(),
    ];
    for s in Syscall::ALL {
        v.push(format!("syscalls/sys_enter_{}", s.name()));
        v.push(format!("syscalls/sys_exit_{}", s.name()));
    }
    v
}

/// The formats the decoder needs: [`enabled_events`] plus `ftrace/print`.
pub fn needed_formats() -> Vec<String> {
    let mut v = enabled_events();
    v.push("ftrace/print".to_string());
    v
}

#[derive(Clone, Debug)]
enum Kind {
    Fault {
        kernel: bool,
        addr: Field,
        code: Field,
    },
    Enter {
        call: Syscall,
        args: Vec<Field>,
    },
    Exit {
        call: Syscall,
        ret: Field,
    },
    NewTask {
        pid: Field,
        flags: Field,
    },
    Exec {
        pid: Field,
        old_pid: Field,
        filename: Field,
    },
    ProcExit {
        pid: Field,
    },
    Marker {
        buf: Field,
    },
}

/// Decodes records by their `common_type`.
#[derive(Clone, Debug)]
pub struct Decoder {
    kinds: BTreeMap<u16, Kind>,
    common_type: Field,
    common_pid: Field,
}

impl Decoder {
    /// A decoder from the formats of [`needed_formats`] (keyed `SYSTEM/NAME`).
    pub fn new(formats: &BTreeMap<String, Format>) -> Result<Decoder, FormatError> {
        let get = |name: &str| {
            formats
                .get(name)
                .ok_or_else(|| FormatError(format!("no format for {name}")))
        };
        let fault = get("exceptions/page_fault_user")?;
        let mut kinds = BTreeMap::new();
        for (name, kernel) in [("page_fault_user", false), ("page_fault_kernel", true)] {
            let f = get(&format!("exceptions/{name}"))?;
            let k = Kind::Fault {
                kernel,
                addr: f.field("address")?,
                code: f.field("error_code")?,
            };
            kinds.insert(f.id, k);
        }
        for s in Syscall::ALL {
            let f = get(&format!("syscalls/sys_enter_{}", s.name()))?;
            let mut args: Vec<(usize, Field)> = f
                .fields
                .iter()
                .filter(|(n, _)| !n.starts_with("common_") && *n != "__syscall_nr")
                .map(|(_, fl)| (fl.offset, *fl))
                .collect();
            args.sort_by_key(|a| a.0);
            let args = args.into_iter().map(|a| a.1).collect();
            kinds.insert(f.id, Kind::Enter { call: s, args });
            let f = get(&format!("syscalls/sys_exit_{}", s.name()))?;
            kinds.insert(
                f.id,
                Kind::Exit {
                    call: s,
                    ret: f.field("ret")?,
                },
            );
        }
        let f = get("task/task_newtask")?;
        kinds.insert(
            f.id,
            Kind::NewTask {
                pid: f.field("pid")?,
                flags: f.field("clone_flags")?,
            },
        );
        let f = get("sched/sched_process_exec")?;
        kinds.insert(
            f.id,
            Kind::Exec {
                pid: f.field("pid")?,
                old_pid: f.field("old_pid")?,
                filename: f.field("filename")?,
            },
        );
        let f = get("sched/sched_process_exit")?;
        kinds.insert(
            f.id,
            Kind::ProcExit {
                pid: f.field("pid")?,
            },
        );
        let f = get("ftrace/print")?;
        kinds.insert(
            f.id,
            Kind::Marker {
                buf: f.field("buf")?,
            },
        );
        Ok(Decoder {
            kinds,
            common_type: fault.field("common_type")?,
            common_pid: fault.field("common_pid")?,
        })
    }

    /// The event of one record; `None` for records of other events or too short ones.
    pub fn decode(&self, rec: &[u8]) -> Option<Event> {
        let id = read_u64(rec, self.common_type)? as u16;
        let tid = read_i64(rec, self.common_pid)? as i32;
        let int = |f: Field| read_i64(rec, f).map(|v| v as i32);
        Some(match self.kinds.get(&id)? {
            Kind::Fault { kernel, addr, code } => Event::Fault {
                tid,
                addr: read_u64(rec, *addr)?,
                write: read_u64(rec, *code)? & 2 != 0,
                kernel: *kernel,
            },
            Kind::Enter { call, args } => {
                let mut a = [0u64; 6];
                for (i, f) in args.iter().take(6).enumerate() {
                    a[i] = read_u64(rec, *f)?;
                }
                Event::SysEnter {
                    tid,
                    call: *call,
                    args: a,
                }
            }
            Kind::Exit { call, ret } => Event::SysExit {
                tid,
                call: *call,
                ret: read_i64(rec, *ret)?,
            },
            Kind::NewTask { pid, flags } => Event::NewTask {
                parent: tid,
                child: int(*pid)?,
                clone_flags: read_u64(rec, *flags)?,
            },
            Kind::Exec {
                pid,
                old_pid,
                filename,
            } => Event::Exec {
                pid: int(*pid)?,
                old_pid: int(*old_pid)?,
                filename: read_str(rec, *filename)?,
            },
            Kind::ProcExit { pid } => Event::Exit { tid: int(*pid)? },
            Kind::Marker { buf } => Event::Marker {
                text: read_str(rec, *buf)?.trim_end().to_string(),
            },
        })
    }
}
