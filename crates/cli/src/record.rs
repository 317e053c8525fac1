//! `foliolab record [-o FILE] -- CMD [ARGS]`: traces a command's process tree and writes a
//! version-2 scenario (docs/record.md). The tracing is the probe's (`foliolab_probe::trace`);
//! the conversion is pure (`foliolab_record`).

use clap::Args;
use foliolab_probe::trace::{record, restore_record_host, RecordOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub struct RecordArgs {
    /// Where to write the scenario (`.gz`: compressed); standard output without it.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Ring buffer per CPU, in MiB.
    #[arg(long, default_value_t = 64)]
    pub buffer_mb: u64,
    /// No progress lines.
    #[arg(long)]
    pub quiet: bool,
    /// The summary as one JSON object on standard error.
    #[arg(long)]
    pub json: bool,
    /// Undo what a killed recording left on the host (tracefs instance, mount), and exit.
    #[arg(long)]
    pub restore: bool,
    /// The command and its arguments (after `--`).
    #[arg(last = true)]
    pub command: Vec<String>,
}

pub fn run(args: RecordArgs) -> anyhow::Result<u8> {
    if args.restore {
        match restore_record_host()? {
            Some(j) => eprintln!("foliolab record: restored: {j:?}"),
            None => eprintln!("foliolab record: nothing to restore"),
        }
        return Ok(0);
    }
    if args.command.is_empty() {
        anyhow::bail!("no command: foliolab record [-o FILE] -- CMD [ARGS]");
    }
    let opts = RecordOptions {
        argv: args.command.clone(),
        buffer_kb: args.buffer_mb * 1024,
        progress: (!args.quiet).then_some(Duration::from_secs(5)),
    };
    let out = record(&opts)?;
    if let Some(dump) = std::env::var_os("FOLIOLAB_RECORD_DUMP") {
        // Debugging aid: every decoded event and snapshot, in Rust debug form.
        let mut t = String::new();
        for e in &out.recording.events {
            t.push_str(&format!("{} {} {:?}\n", e.ts, e.cpu, e.event));
        }
        for (id, s) in &out.recording.snapshots {
            t.push_str(&format!("snapshot {id} {s:?}\n"));
        }
        std::fs::write(dump, t)?;
    }
    let (scenario, summary) =
        foliolab_record::convert(&out.recording).map_err(|e| anyhow::anyhow!("{e}"))?;
    let text = foliolab_scenario::print(&scenario);
    write_output(args.output.as_ref(), &text)?;
    let s = &summary;
    if args.json {
        let j = serde_json::json!({
            "kind": "record", "command": opts.argv.join(" "), "exit": out.exit,
            "seconds": out.seconds, "trace_bytes": out.trace_bytes, "events": out.recording.events.len(),
            "snapshots": out.snapshots, "processes": s.processes, "exits": s.exits,
            "regions": s.regions, "spaces": s.spaces, "files": s.files,
            "faults_user": s.faults_user, "faults_kernel": s.faults_kernel,
            "faults_outside": s.faults_outside, "faults_forbidden": s.faults_forbidden,
            "syscalls": s.syscalls, "syscalls_failed": s.syscalls_failed,
            "advice_ignored": s.advice_ignored, "files_unknown": s.files_unknown,
            "files_inferred": s.files_inferred,
            "devices": s.devices, "execs_unseen": s.execs_unseen,
            "implicit_pages": s.implicit_pages, "hugetlb": s.hugetlb,
            "statements": s.statements, "bytes": text.len(),
        });
        eprintln!("{j}");
    } else {
        eprintln!(
            "foliolab record: `{}` exited {} after {:.1} s; {} events ({:.1} MiB of trace), {} maps snapshots",
            opts.argv.join(" "),
            out.exit,
            out.seconds,
            out.recording.events.len(),
            out.trace_bytes as f64 / (1 << 20) as f64,
            out.snapshots
        );
        eprintln!(
            "  {} processes ({} exited), {} regions in {} spaces, {} files; {} faults ({} user, {} kernel-mode), \
             {} outside any mapping, {} forbidden; {} statements ({} KiB)",
            s.processes, s.exits, s.regions, s.spaces, s.files,
            s.faults_user + s.faults_kernel, s.faults_user, s.faults_kernel,
            s.faults_outside, s.faults_forbidden, s.statements, text.len() / 1024
        );
        eprintln!(
            "  approximated: {} ignored advice, {} unknown files ({} more inferred from length and offset), {} device mappings, {} execs unseen ({} implicit pages), {} hugetlb",
            s.advice_ignored, s.files_unknown, s.files_inferred, s.devices, s.execs_unseen, s.implicit_pages, s.hugetlb
        );
    }
    Ok(0)
}

fn write_output(path: Option<&PathBuf>, text: &str) -> anyhow::Result<()> {
    let Some(p) = path else {
        std::io::stdout().write_all(text.as_bytes())?;
        return Ok(());
    };
    let f = std::fs::File::create(p)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", p.display()))?;
    if p.extension().is_some_and(|x| x == "gz") {
        let mut gz = flate2::write::GzEncoder::new(f, flate2::Compression::best());
        gz.write_all(text.as_bytes())?;
        gz.finish()?;
    } else {
        let mut w = std::io::BufWriter::new(f);
        w.write_all(text.as_bytes())?;
        w.flush()?;
    }
    Ok(())
}
