//! `--kernel K` for `probe` and `check`: scenarios on another kernel in a VM, and
//! `foliolab kernel` (download and prepare kernels ahead of time).

use crate::load::Loaded;
use crate::run::combine;
use anyhow::Context;
use clap::Args;
use foliolab_cli::era as crate_era;
use foliolab_driver::{check_supported, drive, render_json, Record};
use foliolab_model::Era;
use foliolab_probe::compat::KernelVersion;
use foliolab_probe::vm::initramfs::JobScenario;
use foliolab_probe::vm::session::AccelChoice;
use foliolab_probe::vm::{self, Cache, KernelSpec, PreparedKernel, VmEvent, VmOptions, VmReport};
use foliolab_scenario::Scenario;
use foliolab_sim::ModelRunner;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Where scenarios run: this machine's kernel or a VM.
#[derive(Args, Clone, Debug)]
pub struct KernelArgs {
    /// The kernel: `host` (this machine's), a generation (`5.10`, `6.1`, `6.12`, `7.2`, ...)
    /// booted in a VM from Debian's newest package of it, or the path of a kernel image
    /// (bzImage or an ELF vmlinux) a developer built.
    #[arg(long, default_value = "host", value_name = "K")]
    pub kernel: String,
    /// With `--kernel PATH`: a directory holding the kernel's modules (zram, for `swap`).
    #[arg(long, value_name = "DIR")]
    pub kernel_modules: Option<PathBuf>,
    /// Virtual CPUs of the VM.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub vm_cpus: u32,
    /// Guest memory in MiB (default: sized to the largest scenario).
    #[arg(long, value_name = "MIB")]
    pub vm_memory: Option<u64>,
    /// `auto` (KVM where a trial boot showed it works, else TCG), `tcg` or `kvm`.
    #[arg(long, default_value = "auto", value_parser = ["auto", "tcg", "kvm"])]
    pub vm_accel: String,
    /// Seconds the VM may take to start the runner.
    #[arg(long, default_value_t = 180, value_name = "SECS")]
    pub boot_timeout: u64,
    /// Seconds one scenario may take in the VM (it then ends with exit status 2 and the
    /// rest run in a new boot).
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub scenario_timeout: u64,
    /// Seconds the whole VM run may take.
    #[arg(long, default_value_t = 7200, value_name = "SECS")]
    pub total_timeout: u64,
    /// Print what the VM's kernel exposes (knobs, counters, features) on standard error.
    #[arg(long)]
    pub facts: bool,
    /// With a VM kernel: also write each scenario's records to DIR/<file path>.jsonl (or
    /// .unsupported/.error), the kernel's facts to DIR/facts.txt and the run's figures to
    /// DIR/run.txt: raw results to keep.
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
}

impl KernelArgs {
    /// The VM kernel asked for, or `None` for the host.
    pub fn vm_spec(&self) -> anyhow::Result<Option<KernelSpec>> {
        match KernelSpec::parse(&self.kernel, self.kernel_modules.clone())? {
            KernelSpec::Host if self.save.is_some() || self.facts => {
                anyhow::bail!("--save and --facts go with a VM kernel (--kernel K)")
            }
            KernelSpec::Host => Ok(None),
            s => Ok(Some(s)),
        }
    }

    fn options(&self, scenarios: &[&Scenario]) -> VmOptions {
        VmOptions {
            cpus: self.vm_cpus,
            memory_mib: self
                .vm_memory
                .unwrap_or_else(|| vm::memory::guest_mib(scenarios.iter().copied())),
            boot_timeout: Duration::from_secs(self.boot_timeout),
            scenario_timeout: Duration::from_secs(self.scenario_timeout),
            total_timeout: Duration::from_secs(self.total_timeout),
            accel: match self.vm_accel.as_str() {
                "tcg" => AccelChoice::Tcg,
                "kvm" => AccelChoice::Kvm,
                _ => AccelChoice::Auto,
            },
        }
    }
}

/// `foliolab kernel K...`: downloads and prepares kernels (what `--kernel K` would boot).
#[derive(Args)]
pub struct KernelCmdArgs {
    /// Generations (`6.1`) or kernel image paths.
    #[arg(required = true)]
    pub kernels: Vec<String>,
    /// With a kernel image path: its modules directory.
    #[arg(long, value_name = "DIR")]
    pub kernel_modules: Option<PathBuf>,
}

fn progress(m: &str) {
    eprintln!("vm: {m}");
}

fn prepare(spec: &KernelSpec) -> anyhow::Result<(Cache, PreparedKernel)> {
    let cache = Cache::from_env()?;
    let t = std::time::Instant::now();
    let k = vm::prepare(spec, &cache, &mut |m| progress(m))?;
    let pvh = if k.pvh {
        "PVH vmlinux"
    } else {
        "compressed image"
    };
    eprintln!(
        "vm: kernel {} ({pvh}; ready in {:.1} s)",
        k.label,
        t.elapsed().as_secs_f64()
    );
    if let Some(m) = &k.missing_modules {
        eprintln!("vm: no zram ({m}): scenarios with `swap` are unsupported");
    }
    Ok((cache, k))
}

pub fn kernel_cmd(args: KernelCmdArgs) -> anyhow::Result<u8> {
    for k in &args.kernels {
        let spec = match KernelSpec::parse(k, args.kernel_modules.clone())? {
            KernelSpec::Host => anyhow::bail!("`host` needs no preparation"),
            s => s,
        };
        let (cache, p) = prepare(&spec)?;
        let modules: Vec<&str> = p.modules.iter().map(|m| m.name.as_str()).collect();
        println!(
            "{k}: {}\n  image: {}\n  boot image: {}\n  config: {}\n  modules: {}\n  cache: {}",
            p.label,
            p.dir.join("image").display(),
            p.boot_image.display(),
            p.config
                .as_ref()
                .map_or("(none)".into(), |c| c.display().to_string()),
            if modules.is_empty() {
                "(none)".into()
            } else {
                format!(
                    "{} (in {})",
                    modules.join(" "),
                    p.dir.join("modules").display()
                )
            },
            cache.root().display()
        );
    }
    Ok(0)
}

/// The text the guest parses: the file itself when it still parses to the same program
/// (so every record's line is the file's), else the canonical form with each statement on
/// its original line.
fn guest_text(name: &str, s: &Scenario) -> String {
    if let Ok(t) = std::fs::read_to_string(name) {
        if foliolab_scenario::parse(name, &t).is_ok_and(|p| p.same_program(s)) {
            return t;
        }
    }
    let mut lines: Vec<String> = Vec::new();
    for st in s.statements() {
        let l = st.pos.line as usize;
        if lines.len() < l {
            lines.resize(l, String::new());
        }
        lines[l - 1] = foliolab_scenario::print_stmt(st);
    }
    lines.join("\n") + "\n"
}

/// `--save DIR`: raw results of a VM run, one file per scenario.
pub(crate) struct Saver {
    dir: Option<PathBuf>,
    facts: String,
    /// Progress and the guest's notes (modules, MGLRU, reruns), for run.txt.
    log: String,
}

impl Saver {
    fn new(dir: Option<PathBuf>) -> Saver {
        Saver {
            dir,
            facts: String::new(),
            log: String::new(),
        }
    }

    fn note(&mut self, line: &str) {
        self.log.push_str(line);
        self.log.push('\n');
    }

    fn fact(&mut self, key: &str, value: &str) {
        self.facts.push_str(&format!("{key} = {value}\n"));
    }

    /// `tests/conformance/x.scn` → `DIR/tests/conformance/x.<ext>`.
    pub(crate) fn path(dir: &std::path::Path, name: &str, ext: &str) -> PathBuf {
        let rel: PathBuf = std::path::Path::new(name)
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .collect();
        dir.join(rel).with_extension(ext)
    }

    fn scenario(&self, name: &str, o: &Outcome) -> anyhow::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let (ext, text) = if !o.unsupported.is_empty() {
            ("unsupported", o.unsupported.join("\n") + "\n")
        } else if !o.errors.is_empty() && o.records.is_empty() {
            ("error", o.errors.join("\n") + "\n")
        } else {
            let mut t: String = o.records.iter().map(|r| render_json(r) + "\n").collect();
            o.errors
                .iter()
                .for_each(|e| t.push_str(&format!("# error: {e}\n")));
            ("jsonl", t)
        };
        let p = Saver::path(dir, name, ext);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).with_context(|| format!("mkdir {}", d.display()))?;
        }
        std::fs::write(&p, text).with_context(|| format!("write {}", p.display()))
    }

    fn finish(&self, closing: &str) -> anyhow::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        std::fs::create_dir_all(dir).with_context(|| format!("mkdir {}", dir.display()))?;
        std::fs::write(dir.join("facts.txt"), &self.facts)?;
        std::fs::write(dir.join("run.txt"), format!("{}{closing}\n", self.log))?;
        Ok(())
    }
}

/// What a VM run collected for one scenario.
#[derive(Default)]
pub(crate) struct Outcome {
    pub(crate) records: Vec<Record>,
    pub(crate) unsupported: Vec<String>,
    pub(crate) errors: Vec<String>,
    pub(crate) exit: i32,
    /// The spec counters the kernel shows (the guest's `counters` fact).
    pub(crate) counters: Option<std::collections::BTreeSet<String>>,
}

/// Runs `job` in a VM, printing progress and calling `on_end` with each scenario's
/// outcome as it ends (`on_record` sees records as they stream).
fn run_vm(
    spec: &KernelSpec,
    args: &KernelArgs,
    job: &[(String, Scenario)],
    on_record: &mut dyn FnMut(usize, &Record),
    on_end: &mut dyn FnMut(usize, Outcome),
) -> anyhow::Result<VmReport> {
    // Before any download: without QEMU nothing can boot.
    vm::qemu::find_qemu()?;
    let (cache, kernel) = prepare(spec)?;
    if job.is_empty() {
        eprintln!("vm: no scenario to run: no boot");
        return Ok(VmReport::default());
    }
    let exe = std::env::current_exe().context("the foliolab executable")?;
    let scenarios: Vec<&Scenario> = job.iter().map(|(_, s)| s).collect();
    let opts = args.options(&scenarios);
    let jobs: Vec<JobScenario> = job
        .iter()
        .enumerate()
        .map(|(index, (name, s))| JobScenario {
            index,
            name: name.clone(),
            text: guest_text(name, s),
        })
        .collect();
    let mut c = Collector {
        args,
        names: jobs.iter().map(|j| j.name.clone()).collect(),
        pending: BTreeMap::new(),
        saver: Saver::new(args.save.clone()),
        save_error: None,
        tally: Tally::default(),
        counters: None,
        on_record,
        on_end,
    };
    let report = vm::run_job(&kernel, &exe, &cache, &jobs, &opts, &mut |e| c.event(e))?;
    if let Some(e) = c.save_error {
        return Err(e);
    }
    let closing = closing_line(&args.kernel, &c.tally, &report);
    eprintln!("{closing}");
    c.saver.finish(&closing)?;
    Ok(report)
}

/// Gathers a VM run's events into per-scenario outcomes.
struct Collector<'a> {
    args: &'a KernelArgs,
    names: Vec<String>,
    pending: BTreeMap<usize, Outcome>,
    saver: Saver,
    save_error: Option<anyhow::Error>,
    tally: Tally,
    /// The counters the kernel shows (its `counters` fact).
    counters: Option<std::collections::BTreeSet<String>>,
    on_record: &'a mut dyn FnMut(usize, &Record),
    on_end: &'a mut dyn FnMut(usize, Outcome),
}

impl Collector<'_> {
    fn say(&mut self, m: &str) {
        progress(m);
        self.saver.note(&format!("vm: {m}"));
    }

    fn event(&mut self, e: VmEvent) {
        match e {
            VmEvent::Progress(m) | VmEvent::Note(m) => self.say(m),
            VmEvent::Booted {
                release,
                accel,
                boot,
            } => self.say(&format!(
                "guest runner up on {release} after {:.1} s ({})",
                boot.as_secs_f64(),
                accel.name()
            )),
            VmEvent::Fact { key, value } => {
                if self.args.facts {
                    eprintln!("vm: fact {key} = {value}");
                }
                if key == "counters" {
                    self.counters = Some(value.split_whitespace().map(String::from).collect());
                }
                self.saver.fact(key, value);
            }
            VmEvent::Begin(i) => {
                self.pending.insert(i, Outcome::default());
            }
            VmEvent::Unsupported(i, t) => self.outcome(i).unsupported.push(t.to_string()),
            VmEvent::Record(i, r) => {
                (self.on_record)(i, &r);
                self.outcome(i).records.push(r);
            }
            VmEvent::Error(i, t) => self.outcome(i).errors.push(t.to_string()),
            VmEvent::End { index, exit, .. } => self.end(index, exit),
        }
    }

    fn outcome(&mut self, i: usize) -> &mut Outcome {
        self.pending.entry(i).or_default()
    }

    fn end(&mut self, index: usize, exit: i32) {
        let mut o = self.pending.remove(&index).unwrap_or_default();
        o.exit = exit;
        o.counters = self.counters.clone();
        self.tally.count(exit);
        if let Err(e) = self.saver.scenario(&self.names[index], &o) {
            self.save_error.get_or_insert(e);
        }
        (self.on_end)(index, o);
    }
}

/// Per-run tallies for the closing line.
#[derive(Default)]
struct Tally {
    ran: usize,
    failed: usize,
    unsupported: usize,
    errors: usize,
}

impl Tally {
    fn count(&mut self, exit: i32) {
        match exit {
            3 => self.unsupported += 1,
            2 => self.errors += 1,
            1 => {
                self.ran += 1;
                self.failed += 1
            }
            _ => self.ran += 1,
        }
    }
}

fn closing_line(spec_text: &str, t: &Tally, r: &VmReport) -> String {
    let release = r.boots.first().map_or("?", |b| b.release.as_str());
    let boots: Vec<String> = r
        .boots
        .iter()
        .map(|b| {
            format!(
                "boot {:.1} s, {} scenarios, {:.1} s in all ({})",
                b.boot.as_secs_f64(),
                b.ended,
                b.total.as_secs_f64(),
                b.accel.name()
            )
        })
        .collect();
    format!(
        "vm: --kernel {spec_text} ({release}): {} ran ({} with failures), {} unsupported, {} errors; {} boot(s): {}; total {:.1} s",
        t.ran,
        t.failed,
        t.unsupported,
        t.errors,
        r.boots.len(),
        boots.join("; "),
        r.total.as_secs_f64()
    )
}

/// Splits loaded scenarios into the invalid ones (printed, exit 2) and the job.
pub(crate) fn valid_job(loaded: Vec<(String, Loaded)>, code: &mut u8) -> Vec<(String, Scenario)> {
    let mut job = Vec::new();
    for (name, l) in loaded {
        match l {
            Err(e) => {
                crate::say::error(&name, &e);
                crate::say::end(&name, 2);
                *code = combine(*code, 2);
            }
            Ok(s) => job.push((name, s)),
        }
    }
    job
}

/// `foliolab probe --kernel K`.
pub fn probe(
    spec: &KernelSpec,
    args: &KernelArgs,
    loaded: Vec<(String, Loaded)>,
) -> anyhow::Result<u8> {
    let mut code = 0u8;
    let job = valid_job(loaded, &mut code);
    let names: Vec<String> = job.iter().map(|(n, _)| n.clone()).collect();
    let mut headed = std::collections::BTreeSet::new();
    let mut on_record = |i: usize, r: &Record| {
        if headed.insert(i) {
            crate::say::heading(&names[i]);
        }
        crate::say::record(&names[i], r);
    };
    let mut on_end = |i: usize, o: Outcome| {
        for u in &o.unsupported {
            crate::say::unsupported(&names[i], None, u);
        }
        for e in &o.errors {
            crate::say::error(&names[i], &format!("{}: error: {e}", names[i]));
        }
        let c = o.exit.clamp(0, 3) as u8;
        crate::say::end(&names[i], c);
        code = combine(code, c);
    };
    run_vm(spec, args, &job, &mut on_record, &mut on_end)?;
    Ok(code)
}

/// The model side of `check --kernel K`: the era K selects (`crate::era`: a generation's
/// own, the release an image names, the nearest modelled generation below it) and the design
/// (`--scheme`, else the era's own). Every scenario gets a fresh runner of the same pair.
pub struct ModelSide {
    pub era: Era,
    pub scheme: String,
    pub no_check: bool,
}

impl ModelSide {
    /// The model a kernel of `version` is judged against, under `scheme` (default: the
    /// era's design); a note on standard error when the era is not exactly the kernel's.
    pub fn for_kernel(
        version: Option<KernelVersion>,
        scheme: Option<&str>,
        no_check: bool,
    ) -> anyhow::Result<ModelSide> {
        let choice = crate_era::era_for_version(version);
        if let Some(n) = &choice.note {
            eprintln!("check: {n}");
        }
        let scheme = scheme.unwrap_or(choice.era.design).to_string();
        foliolab_cli::run::check_scheme(&scheme)?;
        Ok(ModelSide {
            era: choice.era,
            scheme,
            no_check,
        })
    }

    /// A fresh runner.
    pub fn runner(&self) -> ModelRunner {
        let mut r = ModelRunner::for_era(self.era, &self.scheme)
            .expect("the scheme was checked in for_kernel");
        r.check_every_statement = !self.no_check;
        r
    }

    /// `the 6.12 era (design linux-6.14)`.
    pub fn describe(&self) -> String {
        format!(
            "the {} era (design {})",
            self.era.generation.name(),
            self.scheme
        )
    }
}

/// The scenarios the model can run in `model`'s era; prints the others (exit 3).
fn model_job(
    loaded: Vec<(String, Loaded)>,
    model: &ModelSide,
    code: &mut u8,
) -> Vec<(String, Scenario)> {
    let mut job = Vec::new();
    for (name, s) in valid_job(loaded, code) {
        let missing = check_supported(&s, &model.runner());
        if missing.is_empty() {
            job.push((name, s));
        } else {
            missing
                .iter()
                .for_each(|m| crate::say::unsupported(&name, Some("model"), m));
            crate::say::end(&name, 3);
            *code = combine(*code, 3);
        }
    }
    job
}

/// `foliolab check --kernel K`: the model on the host, the kernel in a VM (one boot for
/// every scenario the model can run), compared statement by statement; with `records`, the
/// kernel's side is the records a `--save` run kept (no boot).
pub fn check(
    spec: &KernelSpec,
    args: &KernelArgs,
    loaded: Vec<(String, Loaded)>,
    model: &ModelSide,
    records: Option<&std::path::Path>,
) -> anyhow::Result<u8> {
    let mut code = 0u8;
    let job = model_job(loaded, model, &mut code);
    eprintln!(
        "check: --kernel {} is judged against {}",
        args.kernel,
        model.describe()
    );
    if let Some(dir) = records {
        return crate::vm_records::check_saved(dir, &job, model, code);
    }
    let mut on_end = |i: usize, o: Outcome| {
        let (name, s) = &job[i];
        let c = check_end(model, name, s, o);
        crate::say::end(name, c);
        code = combine(code, c);
    };
    run_vm(spec, args, &job, &mut |_, _| {}, &mut on_end)?;
    Ok(code)
}

/// One scenario's verdict: the model's run against the kernel's outcome.
pub(crate) fn check_end(model: &ModelSide, name: &str, s: &Scenario, o: Outcome) -> u8 {
    if !o.unsupported.is_empty() {
        o.unsupported
            .iter()
            .for_each(|m| crate::say::unsupported(name, Some("kernel"), m));
        return 3;
    }
    for e in &o.errors {
        crate::say::error(name, &format!("{name}: error: {e}"));
    }
    let mut runner = model.runner();
    let mut left = Vec::new();
    let ms = drive(s, &mut runner, &mut |r: &Record| left.push(r.clone()));
    if let Some(shown) = &o.counters {
        only_counters(&mut left, shown);
    }
    crate::probe::print_verdict(name, &left, &o.records, ms.exit, o.exit)
}

/// Drops from the model's `observe stats` records the counters the kernel does not have
/// (per-size stats before 6.9, newer vmstat names): there is nothing to compare them with.
fn only_counters(records: &mut [Record], shown: &std::collections::BTreeSet<String>) {
    for r in records {
        if let Record::Stats(s) = r {
            s.counters.retain(|k, _| shown.contains(k));
        }
    }
}
