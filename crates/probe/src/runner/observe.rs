//! Observations on the kernel: values read, pages (pagemap, kpagecount, kpageflags,
//! PAGEMAP_SCAN) in bounded batches, smaps, RSS, fault counts, counters, held pages.

use super::proc::Proc;
use super::{rerr, KernelRunner};
use crate::protocol::{Command, Reply};
use crate::readers::{self, PAGE};
use foliolab_driver::{PageObs, ReadValue, RunError, SmapsObs};
use foliolab_scenario::{MapKind, Range, RssKind};
use std::collections::BTreeMap;

type Res<T> = std::result::Result<T, RunError>;

/// Pages observed per batch (64 MiB of address space, a few MiB of observations): the
/// probe never holds more of a range than this at once.
pub const BATCH_PAGES: u64 = 16384;

impl KernelRunner<'_> {
    pub(super) fn read_values(&mut self, proc: &str, range: &Range) -> Res<Vec<ReadValue>> {
        let (addr, len, start) = self.proc_mut(proc)?.span(range)?;
        let (faults, values) = match self.access(proc, Command::Read { addr, len }, "read")? {
            Reply::Values { faults, values } => (faults, values),
            r => return Err(RunError::new(format!("read: unexpected reply {r:?}"))),
        };
        if values.len() as u64 != len / PAGE {
            return Err(RunError::new(format!(
                "read: {} values for {} pages",
                values.len(),
                len / PAGE
            )));
        }
        self.proc_mut(proc)?.last_faults = faults;
        Ok(values
            .into_iter()
            .enumerate()
            .map(|(i, value)| ReadValue {
                offset_bytes: start + i as u64 * PAGE,
                value,
            })
            .collect())
    }

    /// The observations of the range's pages from index `skip` on, at most [`BATCH_PAGES`].
    pub(super) fn page_batch(
        &mut self,
        proc: &str,
        range: &Range,
        skip: u64,
    ) -> Res<Vec<(u64, PageObs)>> {
        let p = self.proc_mut(proc)?;
        let (addr, len, start) = p.span(range)?;
        let pid = p.pid();
        let total = len / PAGE;
        if skip >= total {
            return Ok(Vec::new());
        }
        let n = (total - skip).min(BATCH_PAGES);
        let first = addr + skip * PAGE;
        let obs = readers::read_pages(pid, &self.phys, first, n as usize).map_err(rerr)?;
        let base = start + skip * PAGE;
        Ok(obs
            .into_iter()
            .enumerate()
            .map(|(i, o)| (base + i as u64 * PAGE, o))
            .collect())
    }

    pub(super) fn region_smaps(&mut self, proc: &str, region: &str) -> Res<Vec<SmapsObs>> {
        let p = self.proc_mut(proc)?;
        let r = p.region(region)?.clone();
        let vmas = readers::read_smaps(p.pid()).map_err(rerr)?;
        Ok(readers::region_smaps(&vmas, r.addr, r.size))
    }

    /// The RSS counter minus what the helper's own (non-region) mappings contribute.
    pub(super) fn rss(&mut self, proc: &str, kind: RssKind) -> Res<u64> {
        let p = self.proc_mut(proc)?;
        if crate::compat::rss_lags() {
            return Ok(compat_rss_kb(p, kind)? / 4);
        }
        let status = readers::read_status_rss(p.pid()).map_err(rerr)?;
        let vmas = readers::read_smaps(p.pid()).map_err(rerr)?;
        let own: Vec<_> = vmas
            .iter()
            .filter(|v| {
                !p.regions
                    .values()
                    .any(|r| v.end > r.addr && v.start < r.addr + r.size)
            })
            .collect();
        let f = |v: &&readers::SmapsVma, k: &str| v.fields.get(k).copied().unwrap_or(0);
        let sum = |k: &dyn Fn(&&readers::SmapsVma) -> u64| own.iter().map(k).sum::<u64>();
        let kb = match kind {
            RssKind::Anon => status[0].saturating_sub(sum(&|v| f(v, "Anonymous"))),
            RssKind::File => {
                status[1].saturating_sub(sum(&|v| f(v, "Rss").saturating_sub(f(v, "Anonymous"))))
            }
            RssKind::Shmem => status[2],
            RssKind::Swap => status[3].saturating_sub(sum(&|v| f(v, "Swap"))),
        };
        Ok(kb / 4)
    }

    /// Every counter's change since just before the first `spawn`.
    pub(super) fn stat_deltas(&mut self) -> Res<BTreeMap<String, i64>> {
        let base = self
            .baseline
            .as_ref()
            .ok_or_else(|| RunError::new("stats before the first spawn"))?;
        let now = readers::read_counters().map_err(rerr)?;
        Ok(now
            .iter()
            .map(|(k, v)| (k.clone(), v - base.get(k).copied().unwrap_or(0)))
            .collect())
    }

    pub(super) fn held(&mut self, proc: &str, name: &str) -> Res<Vec<u64>> {
        match self.proc_mut(proc)?.call(&Command::Held {
            name: name.to_string(),
        })? {
            Reply::Held(values) => Ok(values),
            r => Err(RunError::new(format!("held: unexpected reply {r:?}"))),
        }
    }
}

/// RSS from smaps where /proc/PID/status lags (before 6.2; see `compat`).
fn compat_rss_kb(p: &Proc, kind: RssKind) -> Res<u64> {
    use crate::compat::{RegionSpan, RssCounter};
    let vmas = readers::read_smaps(p.pid()).map_err(rerr)?;
    let regions: Vec<RegionSpan> = p
        .regions
        .values()
        .map(|r| RegionSpan {
            addr: r.addr,
            size: r.size,
            shmem: !matches!(r.kind, MapKind::Anon),
            shared: matches!(r.kind, MapKind::Shmem | MapKind::File { shared: true, .. }),
        })
        .collect();
    let which = match kind {
        RssKind::Anon => RssCounter::Anon,
        RssKind::File => RssCounter::File,
        RssKind::Shmem => RssCounter::Shmem,
        RssKind::Swap => RssCounter::Swap,
    };
    Ok(crate::compat::rss_from_smaps_kb(&vmas, &regions, which))
}
