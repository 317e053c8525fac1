//! The helper protocol: the runner sends one [`Command`] per line on the helper's stdin, the
//! helper answers one [`Reply`] per line on its stdout. Each type has exactly one encoder
//! and one decoder, and they are tested against each other.
//!
//! Words are separated by one space; numbers are hex with `0x` (addresses, lengths, values)
//! or decimal (pids, fds, fault counts); names are scenario identifiers; page values are
//! run-length encoded (`7*16` is sixteen pages reading 0x7).

use foliolab_scenario::{Advice, Prot};

/// What a `map` maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MapTarget {
    /// MAP_PRIVATE | MAP_ANONYMOUS.
    Anon,
    /// MAP_SHARED | MAP_ANONYMOUS.
    Shmem,
    /// A file opened through this path (`/proc/PID/fd/N` of the runner's memfd), mapped
    /// from byte `offset` of the file.
    File {
        path: String,
        shared: bool,
        offset: u64,
    },
}

/// A request to a helper. Addresses and lengths are bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Map {
        addr: u64,
        len: u64,
        target: MapTarget,
        prot: Prot,
    },
    Unmap {
        addr: u64,
        len: u64,
    },
    Protect {
        addr: u64,
        len: u64,
        prot: Prot,
    },
    Advise {
        addr: u64,
        len: u64,
        advice: Advice,
    },
    /// mremap to `to` (MREMAP_FIXED).
    Move {
        addr: u64,
        len: u64,
        to: u64,
    },
    /// mremap of the page at `addr` to `new_len` bytes in place (no MREMAP_MAYMOVE): the
    /// VMA ending there grows (version 2's `grow`).
    Grow {
        addr: u64,
        new_len: u64,
    },
    /// Stores `value` in the first 64 bits of every page.
    Write {
        addr: u64,
        len: u64,
        value: u64,
    },
    /// Loads the first 64 bits of every page.
    Read {
        addr: u64,
        len: u64,
    },
    /// Forks; the child serves the pipes opened through these paths.
    Fork {
        cmd_path: String,
        resp_path: String,
    },
    /// A longterm rw pin (io_uring fixed buffers) held as `name`.
    Pin {
        name: String,
        addr: u64,
        len: u64,
    },
    /// vmsplice into a pipe held as `name`.
    Splice {
        name: String,
        addr: u64,
        len: u64,
    },
    Release {
        name: String,
    },
    /// The values of the pages held as `name`.
    Held {
        name: String,
    },
    Exit,
}

/// A helper's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The first line of a helper or a forked child: it serves commands.
    Ready {
        pid: u32,
    },
    Done,
    /// Faults charged during an access loop.
    Faults(u64),
    /// Faults and the values read, one per page.
    Values {
        faults: u64,
        values: Vec<u64>,
    },
    /// A forked child: its pid and the number of the pidfd the parent holds for it until
    /// its next command (the runner copies it with `pidfd_getfd`).
    Forked {
        pid: u32,
        pidfd: i32,
    },
    /// MADV_COLLAPSE failed (not a run error): why.
    CollapseFailed(String),
    /// Values of held pages, one per page.
    Held(Vec<u64>),
    /// The command failed: why (one line).
    Err(String),
}

fn hex(v: u64) -> String {
    format!("{v:#x}")
}

fn prot_of(name: &str) -> Result<Prot, String> {
    [Prot::None, Prot::R, Prot::Rw, Prot::Rx, Prot::Rwx]
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| format!("bad prot {name}"))
}

fn advice_of(name: &str) -> Result<Advice, String> {
    Advice::ALL
        .into_iter()
        .find(|a| a.name() == name)
        .ok_or_else(|| format!("bad advice {name}"))
}

/// Words of a line, consumed in order with typed accessors.
struct Words<'a>(std::str::SplitN<'a, char>);

impl<'a> Words<'a> {
    fn new(line: &'a str, max: usize) -> Words<'a> {
        Words(line.splitn(max, ' '))
    }
    fn word(&mut self) -> Result<&'a str, String> {
        self.0
            .next()
            .filter(|w| !w.is_empty())
            .ok_or_else(|| "missing argument".into())
    }
    fn hex(&mut self) -> Result<u64, String> {
        let w = self.word()?;
        w.strip_prefix("0x")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .ok_or_else(|| format!("bad number {w}"))
    }
    fn dec<T: std::str::FromStr>(&mut self) -> Result<T, String> {
        let w = self.word()?;
        w.parse().map_err(|_| format!("bad number {w}"))
    }
    fn name(&mut self) -> Result<String, String> {
        self.word().map(str::to_string)
    }
    fn rest(&mut self) -> String {
        self.0.next().unwrap_or("").to_string()
    }
    fn end(&mut self) -> Result<(), String> {
        match self.0.next() {
            None => Ok(()),
            Some(w) => Err(format!("unexpected {w:?}")),
        }
    }
}

impl MapTarget {
    /// `anon`, `shmem`, `fshared PATH OFFSET`, `fprivate PATH OFFSET`.
    fn encode(&self) -> String {
        match self {
            MapTarget::Anon => "anon".to_string(),
            MapTarget::Shmem => "shmem".to_string(),
            MapTarget::File {
                path,
                shared,
                offset,
            } => {
                let kind = if *shared { "fshared" } else { "fprivate" };
                format!("{kind} {path} {}", hex(*offset))
            }
        }
    }

    fn decode(w: &mut Words<'_>) -> Result<MapTarget, String> {
        let kind = w.word()?;
        let shared = match kind {
            "anon" => return Ok(MapTarget::Anon),
            "shmem" => return Ok(MapTarget::Shmem),
            "fshared" => true,
            "fprivate" => false,
            k => return Err(format!("bad map target {k}")),
        };
        Ok(MapTarget::File {
            path: w.name()?,
            shared,
            offset: w.hex()?,
        })
    }
}

impl Command {
    /// The command as one line (without the newline).
    pub fn encode(&self) -> String {
        match self {
            Command::Map {
                addr,
                len,
                target,
                prot,
            } => {
                let t = target.encode();
                format!("map {} {} {} {t}", hex(*addr), hex(*len), prot.name())
            }
            Command::Unmap { addr, len } => format!("unmap {} {}", hex(*addr), hex(*len)),
            Command::Protect { addr, len, prot } => {
                format!("protect {} {} {}", hex(*addr), hex(*len), prot.name())
            }
            Command::Advise { addr, len, advice } => {
                format!("advise {} {} {}", hex(*addr), hex(*len), advice.name())
            }
            Command::Move { addr, len, to } => {
                format!("move {} {} {}", hex(*addr), hex(*len), hex(*to))
            }
            Command::Write { addr, len, value } => {
                format!("write {} {} {}", hex(*addr), hex(*len), hex(*value))
            }
            Command::Grow { addr, new_len } => format!("grow {} {}", hex(*addr), hex(*new_len)),
            Command::Read { addr, len } => format!("read {} {}", hex(*addr), hex(*len)),
            Command::Fork {
                cmd_path,
                resp_path,
            } => format!("fork {cmd_path} {resp_path}"),
            Command::Pin { name, addr, len } => format!("pin {name} {} {}", hex(*addr), hex(*len)),
            Command::Splice { name, addr, len } => {
                format!("splice {name} {} {}", hex(*addr), hex(*len))
            }
            Command::Release { name } => format!("release {name}"),
            Command::Held { name } => format!("held {name}"),
            Command::Exit => "exit".to_string(),
        }
    }

    /// Parses one line [`Command::encode`] wrote.
    pub fn decode(line: &str) -> Result<Command, String> {
        let mut w = Words::new(line, 7);
        let verb = w.word()?;
        let c = match verb {
            "map" => Command::Map {
                addr: w.hex()?,
                len: w.hex()?,
                prot: prot_of(w.word()?)?,
                target: MapTarget::decode(&mut w)?,
            },
            "grow" => Command::Grow {
                addr: w.hex()?,
                new_len: w.hex()?,
            },
            "unmap" => Command::Unmap {
                addr: w.hex()?,
                len: w.hex()?,
            },
            "protect" => Command::Protect {
                addr: w.hex()?,
                len: w.hex()?,
                prot: prot_of(w.word()?)?,
            },
            "advise" => Command::Advise {
                addr: w.hex()?,
                len: w.hex()?,
                advice: advice_of(w.word()?)?,
            },
            "move" => Command::Move {
                addr: w.hex()?,
                len: w.hex()?,
                to: w.hex()?,
            },
            "write" => Command::Write {
                addr: w.hex()?,
                len: w.hex()?,
                value: w.hex()?,
            },
            "read" => Command::Read {
                addr: w.hex()?,
                len: w.hex()?,
            },
            "fork" => Command::Fork {
                cmd_path: w.name()?,
                resp_path: w.name()?,
            },
            "pin" => Command::Pin {
                name: w.name()?,
                addr: w.hex()?,
                len: w.hex()?,
            },
            "splice" => Command::Splice {
                name: w.name()?,
                addr: w.hex()?,
                len: w.hex()?,
            },
            "release" => Command::Release { name: w.name()? },
            "held" => Command::Held { name: w.name()? },
            "exit" => Command::Exit,
            _ => return Err(format!("unknown command {verb}")),
        };
        w.end()?;
        Ok(c)
    }
}

/// `7*16 0 1` for sixteen 0x7, one 0, one 1 (values in hex without `0x`).
fn encode_values(values: &[u64]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < values.len() {
        let v = values[i];
        let n = values[i..].iter().take_while(|&&x| x == v).count();
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&format!("{v:x}"));
        if n > 1 {
            out.push_str(&format!("*{n}"));
        }
        i += n;
    }
    out
}

/// At most this many values in one reply (a 256 GiB range): a bad count is an error, never
/// an allocation that aborts.
pub const MAX_VALUES: usize = 1 << 26;

fn decode_values(text: &str) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    for run in text.split(' ').filter(|r| !r.is_empty()) {
        let (v, n) = run.split_once('*').unwrap_or((run, "1"));
        let v = u64::from_str_radix(v, 16).map_err(|_| format!("bad value {run}"))?;
        let n: usize = n.parse().map_err(|_| format!("bad count {run}"))?;
        if n > MAX_VALUES - out.len() {
            return Err(format!("more than {MAX_VALUES} values"));
        }
        out.extend(std::iter::repeat_n(v, n));
    }
    Ok(out)
}

/// One line of text: newlines would end the reply early.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

impl Reply {
    /// The reply as one line (without the newline).
    pub fn encode(&self) -> String {
        match self {
            Reply::Ready { pid } => format!("ready {pid}"),
            Reply::Done => "ok".to_string(),
            Reply::Faults(n) => format!("faults {n}"),
            Reply::Values { faults, values } => {
                format!("values {faults} {}", encode_values(values))
                    .trim_end()
                    .to_string()
            }
            Reply::Forked { pid, pidfd } => format!("forked {pid} {pidfd}"),
            Reply::CollapseFailed(why) => format!("collapse-failed {}", one_line(why)),
            Reply::Held(values) => format!("held {}", encode_values(values))
                .trim_end()
                .to_string(),
            Reply::Err(why) => format!("err {}", one_line(why)),
        }
    }

    /// Parses one line [`Reply::encode`] wrote.
    pub fn decode(line: &str) -> Result<Reply, String> {
        let mut w = Words::new(line, 2);
        let verb = w.word()?;
        let r = match verb {
            "ready" => Reply::Ready { pid: w.dec()? },
            "ok" => Reply::Done,
            "faults" => Reply::Faults(w.dec()?),
            "values" => {
                let mut v = Words::new(&line["values ".len().min(line.len())..], 2);
                Reply::Values {
                    faults: v.dec()?,
                    values: decode_values(&v.rest())?,
                }
            }
            "forked" => {
                let mut v = Words::new(&line["forked ".len().min(line.len())..], 3);
                let r = Reply::Forked {
                    pid: v.dec()?,
                    pidfd: v.dec()?,
                };
                v.end()?;
                r
            }
            "collapse-failed" => Reply::CollapseFailed(w.rest()),
            "held" => Reply::Held(decode_values(&w.rest())?),
            "err" => Reply::Err(w.rest()),
            _ => return Err(format!("unknown reply {verb}")),
        };
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps() -> Vec<Command> {
        vec![
            Command::Map {
                addr: 0x2000_0020_0000,
                len: 0x10000,
                target: MapTarget::Anon,
                prot: Prot::Rw,
            },
            Command::Map {
                addr: 1 << 45,
                len: 1 << 35,
                target: MapTarget::Shmem,
                prot: Prot::None,
            },
            Command::Map {
                addr: 0x1000,
                len: 0x1000,
                target: MapTarget::File {
                    path: "/proc/1/fd/7".into(),
                    shared: true,
                    offset: 0,
                },
                prot: Prot::R,
            },
            Command::Map {
                addr: 0x1000,
                len: 0x1000,
                target: MapTarget::File {
                    path: "/proc/1/fd/8".into(),
                    shared: false,
                    offset: 0x20_0000,
                },
                prot: Prot::Rwx,
            },
        ]
    }

    fn commands() -> Vec<Command> {
        let mut v = maps();
        v.extend([
            Command::Grow {
                addr: 0x2000_0000_f000,
                new_len: 0x11000,
            },
            Command::Unmap {
                addr: 0x1000,
                len: 0x2000,
            },
            Command::Protect {
                addr: 0x1000,
                len: 0x2000,
                prot: Prot::Rx,
            },
            Command::Move {
                addr: 0x1000,
                len: 0x2000,
                to: 0x40_0000,
            },
            Command::Write {
                addr: 0x1000,
                len: 0x2000,
                value: u64::MAX,
            },
            Command::Read {
                addr: 0x1000,
                len: 0x2000,
            },
            Command::Fork {
                cmd_path: "/proc/9/fd/3".into(),
                resp_path: "/proc/9/fd/4".into(),
            },
            Command::Pin {
                name: "k".into(),
                addr: 0x1000,
                len: 0x1000,
            },
            Command::Splice {
                name: "pipe_1".into(),
                addr: 0x1000,
                len: 0x1000,
            },
            Command::Release { name: "k".into() },
            Command::Held { name: "k".into() },
            Command::Exit,
        ]);
        for a in Advice::ALL {
            v.push(Command::Advise {
                addr: 0x20_0000,
                len: 0x20_0000,
                advice: a,
            });
        }
        v
    }

    #[test]
    fn every_command_round_trips() {
        for c in commands() {
            let line = c.encode();
            assert!(!line.contains('\n'));
            assert_eq!(Command::decode(&line), Ok(c), "{line}");
        }
    }

    #[test]
    fn every_reply_round_trips() {
        let replies = vec![
            Reply::Ready { pid: 123 },
            Reply::Done,
            Reply::Faults(17),
            Reply::Values {
                faults: 3,
                values: vec![7; 16],
            },
            Reply::Values {
                faults: 0,
                values: vec![0, 1, 1, u64::MAX, 0],
            },
            Reply::Values {
                faults: 0,
                values: vec![],
            },
            Reply::Forked { pid: 99, pidfd: 5 },
            Reply::CollapseFailed("errno 11 (Resource temporarily unavailable)".into()),
            Reply::Held(vec![2; 512]),
            Reply::Held(vec![]),
            Reply::Err("SIGSEGV at 0x0000200000001000".into()),
        ];
        for r in replies {
            let line = r.encode();
            assert_eq!(Reply::decode(&line), Ok(r), "{line}");
        }
        assert_eq!(
            Reply::decode(&Reply::Err("a\nb".into()).encode()),
            Ok(Reply::Err("a b".into()))
        );
    }

    #[test]
    fn values_are_run_length_encoded() {
        let r = Reply::Values {
            faults: 1,
            values: vec![7; 1 << 20],
        };
        assert_eq!(r.encode(), "values 1 7*1048576");
    }

    #[test]
    fn malformed_lines_are_errors_not_panics() {
        for bad in [
            "",
            "map",
            "map 0x1000",
            "map 12 0x1000 rw anon",
            "map 0x1 0x1 rw tmpfs",
            "map 0x1 0x1 rq anon",
            "advise 0x1 0x1 sideways",
            "write 0x1 0x1",
            "unmap 0x1 0x1 0x1",
            "frobnicate",
            "exit now",
            "read 0xzz 0x1",
        ] {
            assert!(Command::decode(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "",
            "values",
            "values x",
            "values 1 7*x",
            "values 1 7*99999999999",
            "forked 1",
            "forked 1 2 3",
            "ready",
            "maybe",
        ] {
            assert!(Reply::decode(bad).is_err(), "{bad:?}");
        }
    }
}
