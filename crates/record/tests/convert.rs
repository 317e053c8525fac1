//! The conversion on a hand-made recording: exec (mappings from a snapshot), file mmap,
//! faults, brk growth and shrink, MAP_FIXED over part of a mapping, mremap that moves and
//! grows, a thread, a fork, exits. The scenario must say exactly what happened.

use foliolab_record::event::{Event, Syscall};
use foliolab_record::maps::{marker, MapsEntry, Snapshot};
use foliolab_record::{convert, Recording, Stamped};
use std::collections::BTreeMap;

const ROOT: i32 = 100;
const EXE: u64 = 0x5555_5555_4000;
const LIB: u64 = 0x7f00_0000_0000;
const STACK: u64 = 0x7ffd_0000_0000;

struct B {
    events: Vec<Stamped>,
    snapshots: BTreeMap<u64, Snapshot>,
}

impl B {
    fn ev(&mut self, event: Event) {
        let ts = self.events.len() as u64 * 10;
        self.events.push(Stamped { ts, cpu: 0, event });
    }
    fn sys(&mut self, tid: i32, call: Syscall, args: [u64; 6], ret: i64) {
        self.ev(Event::SysEnter { tid, call, args });
        self.ev(Event::SysExit { tid, call, ret });
    }
    fn fault(&mut self, tid: i32, addr: u64, write: bool) {
        self.ev(Event::Fault {
            tid,
            addr,
            write,
            kernel: false,
        });
    }
    fn snapshot(&mut self, tid: i32, lines: &[&str]) {
        let id = self.snapshots.len() as u64 + 1;
        self.ev(Event::Marker {
            text: marker(id, false),
        });
        let entries = lines.iter().map(|l| MapsEntry::parse(l).unwrap()).collect();
        let file_sizes = vec![
            ("08:01".to_string(), 7, 0x5000),
            ("08:01".to_string(), 9, 0x30000),
        ];
        self.snapshots.insert(
            id,
            Snapshot {
                tid,
                entries,
                file_sizes,
            },
        );
        self.ev(Event::Marker {
            text: marker(id, true),
        });
    }
}

fn recording() -> Recording {
    let mut b = B {
        events: Vec::new(),
        snapshots: BTreeMap::new(),
    };
    let exec = |pid| Event::Exec {
        pid,
        old_pid: pid,
        filename: "/usr/bin/prog".into(),
    };
    b.ev(exec(ROOT));
    b.sys(ROOT, Syscall::Brk, [0; 6], 0x5555_5600_0000);
    b.sys(ROOT, Syscall::Mmap, [0, 0x30000, 1, 2, 3, 0], LIB as i64);
    let exe = format!(
        "{:x}-{:x} r-xp 00000000 08:01 7 /usr/bin/prog",
        EXE,
        EXE + 0x5000
    );
    let lib = format!(
        "{:x}-{:x} r--p 00000000 08:01 9 /usr/lib/libx.so",
        LIB,
        LIB + 0x30000
    );
    let stack = format!(
        "{:x}-{:x} rw-p 00000000 00:00 0 [stack]",
        STACK - 0x21000,
        STACK
    );
    let vdso = format!(
        "{:x}-{:x} r-xp 00000000 00:00 0 [vdso]",
        STACK + 0x10000,
        STACK + 0x12000
    );
    b.snapshot(ROOT, &[&exe, &lib, &stack, &vdso]);
    b.fault(ROOT, EXE + 0x1234, false);
    b.fault(ROOT, STACK - 0x22000, true); // grows the stack by one page
    b.fault(ROOT, STACK + 0x10000, false); // vDSO: outside
    b.fault(ROOT, LIB + 0x1000, true); // forbidden: read-only
    fixed_brk_mremap(&mut b);
    threads_and_forks(&mut b);
    Recording {
        events: b.events,
        snapshots: b.snapshots,
        root_pid: ROOT,
        command: "prog".into(),
        kernel: "6.18".into(),
        thp: Vec::new(),
    }
}

fn fixed_brk_mremap(b: &mut B) {
    // MAP_FIXED over the middle of the library mapping, read-write.
    b.sys(
        ROOT,
        Syscall::Mmap,
        [LIB + 0x10000, 0x8000, 3, 0x12, 3, 0x10000],
        (LIB + 0x10000) as i64,
    );
    let fixed = format!(
        "{:x}-{:x} rw-p 00010000 08:01 9 /usr/lib/libx.so",
        LIB + 0x10000,
        LIB + 0x18000
    );
    b.snapshot(ROOT, &[&fixed]);
    b.fault(ROOT, LIB + 0x10000, true);
    // brk grows by 0x3000 then shrinks by 0x1000.
    b.sys(
        ROOT,
        Syscall::Brk,
        [0x5555_5600_3000, 0, 0, 0, 0, 0],
        0x5555_5600_3000,
    );
    b.fault(ROOT, 0x5555_5600_2000, true);
    b.sys(
        ROOT,
        Syscall::Brk,
        [0x5555_5600_2000, 0, 0, 0, 0, 0],
        0x5555_5600_2000,
    );
    // An anonymous mapping that mremap moves and grows.
    let anon = 0x7f00_1000_0000u64;
    b.sys(
        ROOT,
        Syscall::Mmap,
        [0, 0x4000, 3, 0x22, u64::MAX, 0],
        anon as i64,
    );
    b.fault(ROOT, anon, true);
    let to = 0x7f00_2000_0000u64;
    b.sys(
        ROOT,
        Syscall::Mremap,
        [anon, 0x4000, 0x6000, 1, 0, 0],
        to as i64,
    );
    b.fault(ROOT, to + 0x5000, true);
}

fn threads_and_forks(b: &mut B) {
    let to = 0x7f00_2000_0000u64;
    // A thread faults in the same mm; then a fork, whose child writes and exits.
    b.ev(Event::NewTask {
        parent: ROOT,
        child: ROOT + 1,
        clone_flags: 0x3d0f00,
    });
    b.fault(ROOT + 1, to, false);
    b.ev(Event::NewTask {
        parent: ROOT + 1,
        child: ROOT + 2,
        clone_flags: 0x1200011,
    });
    b.fault(ROOT + 2, to, true);
    b.ev(Event::Exit { tid: ROOT + 2 });
    b.ev(Event::Exit { tid: ROOT + 1 });
    b.ev(Event::Exit { tid: ROOT });
}

#[test]
fn a_small_program_becomes_the_scenario_it_did() {
    let (s, sum) = convert(&recording()).unwrap();
    let text = foliolab_scenario::print(&s);
    let body: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let expected = [
        "scenario 2",
        "file f1 20K # /usr/bin/prog",
        "file f2 192K # /usr/lib/libx.so",
        "spawn p1 # pid 100: /usr/bin/prog",
        "p1: space s1 10940K shift=1360K",
        "p1: space s2 524312K",
        "p1: space s3 136K shift=1912K",
        "p1: map r1 20K file f1 private prot=rx at=s1+0 # /usr/bin/prog",
        "p1: map r2 132K at=s3+4K # [stack]",
        "p1: map r3 192K file f2 private prot=r at=s2+0 # /usr/lib/libx.so",
        "p1: read r1+4K",
        "p1: map r4 4K at=s3+0 # stack",
        "p1: write r4+0 0x1",
        "p1: unmap r3[64K..+32K]",
        "p1: map r5 32K file f2 private at=s2+64K off=64K # /usr/lib/libx.so",
        "p1: write r5+0 0x1",
        "p1: map r6 12K at=s1+10928K # brk",
        "p1: write r6+8K 0x1",
        "p1: unmap r6+8K",
        "p1: map r7 16K at=s2+256M",
        "p1: write r7+0 0x1",
        "p1: move r7[0..+16K] r8 at=s2+512M",
        "p1: grow r8 8K",
        "p1: write r8+20K 0x1",
        "p1: read r8+0",
        "p1: fork p2 # pid 102",
        "p2: write r8+0 0x2",
        "p2: exit",
        "p1: exit",
    ];
    assert_eq!(body, expected, "\n{text}");
    assert_eq!(sum.faults_outside, 1);
    assert_eq!(sum.faults_forbidden, 1);
    assert_eq!(
        (sum.processes, sum.exits, sum.spaces, sum.files),
        (2, 2, 3, 2)
    );
}

#[test]
fn the_converted_scenario_runs_on_the_model_with_every_check() {
    let (s, _) = convert(&recording()).unwrap();
    let mut problems = Vec::new();
    let summary = foliolab_sim::run_scenario(&s, "linux-6.18", &mut |r| {
        if let foliolab_driver::Record::Problem(p) = r {
            problems.push(p.message.clone());
        }
    })
    .unwrap();
    assert_eq!(summary.exit, 0, "{problems:?}");
}
