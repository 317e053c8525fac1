//! The guest's messages to the host: one line each on the guest's second serial port
//! (`ttyS1`, QEMU's standard output on the host). Every line starts with `@fl `; anything
//! else on that port is not ours and is ignored. The host sends nothing: the job (scenario
//! texts) is in the initramfs.
//!
//! ```text
//! @fl hello <release>                the runner started on kernel <release> (`uname -r`)
//! @fl fact <key> <value>             what this kernel exposes (knobs, counters, features)
//! @fl note <text>                    a setup step (modules loaded, MGLRU off, ...)
//! @fl begin <i>                      scenario i starts
//! @fl unsupported <i> <text>         scenario i cannot run here (one line per reason)
//! @fl rec <i> <json>                 one spec 4.1 record of scenario i
//! @fl end <i> <exit> <millis>        scenario i ended with exit status <exit>
//! @fl error <i> <text>               scenario i could not run (exit 2)
//! @fl done                           every scenario ran; the guest powers off
//! ```

/// One message of the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuestMsg {
    Hello {
        release: String,
    },
    Fact {
        key: String,
        value: String,
    },
    Note(String),
    Begin(usize),
    Unsupported(usize, String),
    Rec(usize, String),
    End {
        index: usize,
        exit: i32,
        millis: u64,
    },
    Error(usize, String),
    Done,
}

const PREFIX: &str = "@fl ";

/// One line of text: line breaks inside become spaces.
fn flat(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

impl GuestMsg {
    /// The line (with its `\n`).
    pub fn line(&self) -> String {
        let body = match self {
            GuestMsg::Hello { release } => format!("hello {}", flat(release)),
            GuestMsg::Fact { key, value } => format!("fact {} {}", flat(key), flat(value)),
            GuestMsg::Note(t) => format!("note {}", flat(t)),
            GuestMsg::Begin(i) => format!("begin {i}"),
            GuestMsg::Unsupported(i, t) => format!("unsupported {i} {}", flat(t)),
            GuestMsg::Rec(i, json) => format!("rec {i} {}", flat(json)),
            GuestMsg::End {
                index,
                exit,
                millis,
            } => format!("end {index} {exit} {millis}"),
            GuestMsg::Error(i, t) => format!("error {i} {}", flat(t)),
            GuestMsg::Done => "done".to_string(),
        };
        format!("{PREFIX}{body}\n")
    }

    /// Parses a line; `None` for a line that is not ours or is malformed.
    pub fn parse(line: &str) -> Option<GuestMsg> {
        let body = line.trim_end_matches(['\r', '\n']).strip_prefix(PREFIX)?;
        let (word, rest) = body.split_once(' ').unwrap_or((body, ""));
        let index_and = |rest: &str| -> Option<(usize, String)> {
            let (i, t) = rest.split_once(' ').unwrap_or((rest, ""));
            Some((i.parse().ok()?, t.to_string()))
        };
        Some(match word {
            "hello" => GuestMsg::Hello {
                release: rest.to_string(),
            },
            "fact" => {
                let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
                GuestMsg::Fact {
                    key: k.to_string(),
                    value: v.to_string(),
                }
            }
            "note" => GuestMsg::Note(rest.to_string()),
            "begin" => GuestMsg::Begin(rest.parse().ok()?),
            "unsupported" => index_and(rest).map(|(i, t)| GuestMsg::Unsupported(i, t))?,
            "rec" => index_and(rest).map(|(i, t)| GuestMsg::Rec(i, t))?,
            "error" => index_and(rest).map(|(i, t)| GuestMsg::Error(i, t))?,
            "end" => {
                let mut it = rest.split(' ');
                GuestMsg::End {
                    index: it.next()?.parse().ok()?,
                    exit: it.next()?.parse().ok()?,
                    millis: it.next()?.parse().ok()?,
                }
            }
            "done" => GuestMsg::Done,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn lines_round_trip() {
        let all = [
            GuestMsg::Hello {
                release: "6.1.0-57-amd64".into(),
            },
            GuestMsg::Fact {
                key: "knobs".into(),
                value: "enabled defrag".into(),
            },
            GuestMsg::Note("zram loaded".into()),
            GuestMsg::Begin(3),
            GuestMsg::Unsupported(3, "line 2: THP knob x does not exist".into()),
            GuestMsg::Rec(3, "{\"kind\":\"stats\",\"line\":4,\"counters\":{}}".into()),
            GuestMsg::End {
                index: 3,
                exit: 1,
                millis: 1234,
            },
            GuestMsg::Error(4, "helper died".into()),
            GuestMsg::Done,
        ];
        for m in all {
            assert_eq!(GuestMsg::parse(&m.line()), Some(m.clone()));
        }
    }
    #[test]
    fn foreign_lines_are_ignored() {
        assert_eq!(GuestMsg::parse("[    3.1] random kernel text"), None);
        assert_eq!(GuestMsg::parse("@fl begin x"), None);
        assert_eq!(GuestMsg::parse("@fl end 1 2"), None);
        assert!(GuestMsg::parse("@fl error 2 two lines").is_some());
    }
}
