//! Version-2 statements on the kernel: a space is only an address range the runner sets
//! aside (nothing is mapped), regions go to fixed places inside it (`MAP_FIXED_NOREPLACE`,
//! so the kernel merges them with equal neighbours as it does for the recorded program),
//! and `move ... at=` is `mremap(MREMAP_MAYMOVE|MREMAP_FIXED)` to a place inside a space.

use super::{place, KernelRunner, Region};
use foliolab_driver::RunError;
use foliolab_scenario::{At, MapKind, ProcOp, Prot, Range};
use std::os::fd::AsRawFd;

type R<T> = std::result::Result<T, RunError>;

impl KernelRunner<'_> {
    /// Performs a version-2 statement; `None` for every other statement.
    pub(super) fn proc_op_placed(&mut self, proc: &str, op: &ProcOp) -> Option<R<()>> {
        Some(match op {
            ProcOp::Space {
                space,
                size_bytes,
                align_bytes,
                shift_bytes,
            } => self.space(proc, space, *size_bytes, *align_bytes, *shift_bytes),
            ProcOp::MapAt {
                region,
                size_bytes,
                kind,
                prot,
                at,
                file_offset_bytes,
            } => self.map_at(
                proc,
                region,
                *size_bytes,
                kind,
                *prot,
                at,
                *file_offset_bytes,
            ),
            ProcOp::MoveAt {
                range,
                new_region,
                at,
            } => self.move_at(proc, range, new_region, at),
            ProcOp::Grow { region, size_bytes } => self.grow(proc, region, *size_bytes),
            _ => return None,
        })
    }

    fn space(&mut self, proc: &str, name: &str, size: u64, align: u64, shift: u64) -> R<()> {
        let p = self.proc_mut(proc)?;
        let addr = place(p.cursor, align, shift);
        p.cursor = addr + size;
        let region = Region {
            addr,
            size,
            kind: MapKind::Anon,
            prot: Prot::None,
        };
        p.regions.insert(name.to_string(), region);
        Ok(())
    }

    fn at_addr(&mut self, proc: &str, at: &At) -> R<u64> {
        let p = self.proc_mut(proc)?;
        Ok(p.region(&at.space)?.addr + at.offset_bytes)
    }

    #[allow(clippy::too_many_arguments)]
    fn map_at(
        &mut self,
        proc: &str,
        region: &str,
        size: u64,
        kind: &MapKind,
        prot: Prot,
        at: &At,
        file_offset: u64,
    ) -> R<()> {
        let addr = self.at_addr(proc, at)?;
        let (kind_s, path) = match kind {
            MapKind::Anon => ("anon", String::new()),
            MapKind::Shmem => ("shmem", String::new()),
            MapKind::File { file, shared } => {
                let f = self
                    .files
                    .get(file)
                    .ok_or_else(|| RunError::new(format!("no file {file}")))?;
                let path = format!(
                    "/proc/{}/fd/{} {file_offset:#x}",
                    std::process::id(),
                    f.as_raw_fd()
                );
                (if *shared { "fshared" } else { "fprivate" }, path)
            }
            MapKind::DriverMixedmap | MapKind::DriverPfnmap => {
                return Err(RunError::new("unsupported: driver mappings are model-only"))
            }
        };
        let line = format!("map {addr:#x} {size:#x} {kind_s} {} {path}", prot.name());
        let p = self.proc_mut(proc)?;
        p.send(line.trim_end())?;
        let r = Region {
            addr,
            size,
            kind: kind.clone(),
            prot,
        };
        p.regions.insert(region.to_string(), r);
        Ok(())
    }

    /// mremap of R's last page to a page plus `len` bytes, without MREMAP_MAYMOVE: the
    /// kernel grows its VMA in place.
    fn grow(&mut self, proc: &str, region: &str, len: u64) -> R<()> {
        let p = self.proc_mut(proc)?;
        let r = p.region(region)?.clone();
        let last = r.addr + r.size - 4096;
        p.send(&format!("grow {last:#x} {:#x}", 4096 + len))?;
        if let Some(x) = p.regions.get_mut(region) {
            x.size += len;
        }
        Ok(())
    }

    fn move_at(&mut self, proc: &str, range: &Range, new_region: &str, at: &At) -> R<()> {
        let to = self.at_addr(proc, at)?;
        let p = self.proc_mut(proc)?;
        let (a, l, _) = p.span(range)?;
        let src = p.region(&range.region)?.clone();
        p.send(&format!("move {a:#x} {l:#x} {to:#x}"))?;
        let r = Region {
            addr: to,
            size: l,
            kind: src.kind,
            prot: src.prot,
        };
        p.regions.insert(new_region.to_string(), r);
        Ok(())
    }
}
