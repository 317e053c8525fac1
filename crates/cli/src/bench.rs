//! `foliolab bench`: the model on the kernel's timing anchors (host-kernel note section 8):
//! fork and munmap of 1 GiB of touched anonymous memory backed by 4K pages, 64K mTHP and
//! 2M THP. Timing is measured here, never asserted in tests.

use clap::Args;
use foliolab_model::{Access, Advice, Model, Prot, ThpConfig, ThpMode};
use foliolab_types::{VirtAddr, PAGE_SIZE};
use std::time::Instant;

#[derive(Args)]
pub struct BenchArgs {
    /// Repetitions per backing (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Region size in MiB.
    #[arg(long, default_value_t = 1024)]
    pub mib: u64,
    /// One JSON object per backing.
    #[arg(long)]
    pub json: bool,
}

/// The kernel's figures on this machine (ms): fork, munmap.
const KERNEL_MS: [(&str, f64, f64); 3] =
    [("4K", 24.0, 95.0), ("64K", 12.0, 12.0), ("2M", 0.9, 3.5)];

struct Sample {
    fork_ms: f64,
    exit_ms: f64,
    munmap_ms: f64,
}

pub fn bench(args: BenchArgs) -> anyhow::Result<u8> {
    if !args.json {
        println!(
            "# model: fork / child exit / munmap of {} MiB touched anon memory, median of {}",
            args.mib, args.runs
        );
    }
    for (backing, kfork, kmunmap) in KERNEL_MS {
        let mut samples: Vec<Sample> = Vec::new();
        for _ in 0..args.runs {
            samples.push(one_run(backing, args.mib << 20)?);
        }
        let med = |f: fn(&Sample) -> f64| median(samples.iter().map(f).collect());
        let (fork, exit, munmap) = (med(|s| s.fork_ms), med(|s| s.exit_ms), med(|s| s.munmap_ms));
        if args.json {
            let record = format!("{{\"kind\":\"bench\",\"line\":0,\"mib\":{},\"runs\":{},\"backing\":\"{backing}\",\"fork_ms\":{fork:.3},\"child_exit_ms\":{exit:.3},\"munmap_ms\":{munmap:.3},\"kernel_fork_ms\":{kfork},\"kernel_munmap_ms\":{kmunmap}}}", args.mib, args.runs);
            println!("{}", foliolab_driver::output::stamp(None, &record));
        } else {
            println!("{backing:>4}: fork {fork:8.3} ms (kernel {kfork:5.1})   child exit {exit:8.3} ms   munmap {munmap:8.3} ms (kernel {kmunmap:5.1})");
        }
    }
    Ok(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn config(backing: &str) -> ThpConfig {
    let mut c = ThpConfig::default();
    if backing == "64K" {
        c.per_size[4] = ThpMode::Madvise;
        c.per_size[9] = ThpMode::Never;
    }
    c
}

fn touched(
    backing: &str,
    len_bytes: u64,
) -> anyhow::Result<(Model, foliolab_model::Pid, VirtAddr)> {
    let scheme = foliolab_schemes::by_name("linux-6.18").expect("scheme");
    let mut m = Model::new(scheme, config(backing));
    let p = m.spawn();
    let start = VirtAddr(0x100_0000_0000 + (2 << 20));
    m.mmap_anon(
        p,
        start,
        len_bytes,
        Prot {
            read: true,
            write: true,
            exec: false,
        },
    )?;
    let advice = if backing == "4K" {
        Advice::Nohugepage
    } else {
        Advice::Hugepage
    };
    m.madvise(p, start, len_bytes, advice)?;
    m.begin_access(p);
    let mut va = start;
    while va.0 < start.0 + len_bytes {
        m.access(
            p,
            va,
            Access::Write {
                value: va.0,
                tag: 1,
            },
        )?;
        va = va.add(PAGE_SIZE);
    }
    Ok((m, p, start))
}

fn one_run(backing: &str, len_bytes: u64) -> anyhow::Result<Sample> {
    let (mut m, p, start) = touched(backing, len_bytes)?;
    let t = Instant::now();
    let c = m.fork(p)?;
    let fork_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    m.exit(c);
    let exit_ms = t.elapsed().as_secs_f64() * 1e3;
    let (mut m2, p2, start2) = touched(backing, len_bytes)?;
    let t = Instant::now();
    m2.munmap(p2, start2, len_bytes);
    let munmap_ms = t.elapsed().as_secs_f64() * 1e3;
    let _ = (&mut m, start);
    Ok(Sample {
        fork_ms,
        exit_ms,
        munmap_ms,
    })
}
