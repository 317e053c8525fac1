//! Runs scenario files on the kernel with the probe's small driver (a development and test
//! tool; the `foliolab probe` command is the user interface). `--restore` restores the host
//! from a journal. Helper: `FOLIOLAB_PROBE_HELPER`, else `foliolab-probe-helper` beside this
//! executable. `--hold-ms N` sleeps N ms after the scenarios' setup (for signal tests).

use foliolab_driver::{check_supported, render_human, render_json};
use foliolab_probe::{probe_scenario, restore_host, HostGuard, KernelRunner, ProbeOptions};
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--restore") {
        match restore_host() {
            Ok(r) => {
                println!("restored: {r:?}");
                std::process::exit(0)
            }
            Err(e) => {
                eprintln!("restore failed: {e}");
                std::process::exit(2)
            }
        }
    }
    let mut hold_ms = 0u64;
    let mut json = false;
    let mut files = Vec::new();
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if a == "--json" {
            json = true;
        } else if a == "--hold-ms" {
            hold_ms = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        } else {
            files.push(a);
        }
    }
    let mut opts = match ProbeOptions::from_env() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2)
        }
    };
    if std::env::var_os("FOLIOLAB_PROBE_HELPER").is_none() {
        let exe = std::env::current_exe().unwrap_or_default();
        opts.helper = exe
            .parent()
            .map(|d| d.join("foliolab-probe-helper"))
            .unwrap_or_else(|| PathBuf::from("foliolab-probe-helper"));
        opts.helper_args.clear();
    }
    let mut guard = match HostGuard::acquire() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2)
        }
    };
    let mut worst = 0;
    for f in &files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{f}: {e}");
                worst = worst.max(2);
                continue;
            }
        };
        let sc = match foliolab_scenario::parse(f, &text)
            .and_then(|s| foliolab_scenario::validate(&s).map(|_| s))
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                worst = worst.max(2);
                continue;
            }
        };
        {
            let probe = match KernelRunner::new(&mut guard, opts.clone()) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(2)
                }
            };
            let u = check_supported(&sc, &probe);
            drop(probe);
            if !u.is_empty() {
                for x in u {
                    println!("unsupported: {x}");
                }
                worst = worst.max(3);
                continue;
            }
        }
        if !json {
            println!("== {f}");
        }
        let mut sink = |r: &foliolab_driver::Record| {
            println!(
                "{}",
                if json {
                    render_json(r)
                } else {
                    render_human(r)
                }
            );
        };
        let res = match probe_scenario(&mut guard, &opts, &sc, &mut sink) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{f}: {e}");
                worst = worst.max(2);
                continue;
            }
        };
        if hold_ms > 0 {
            println!("holding");
            std::thread::sleep(std::time::Duration::from_millis(hold_ms));
        }
        worst = worst.max(res.exit);
    }
    if let Err(e) = guard.restore() {
        eprintln!("restore: {e}");
        std::process::exit(2);
    }
    std::process::exit(worst);
}
