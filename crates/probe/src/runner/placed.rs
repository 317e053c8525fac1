//! Version-2 statements on the kernel: a space is only an address range the runner sets
//! aside (nothing is mapped), regions go to fixed places inside it (`MAP_FIXED_NOREPLACE`,
//! so the kernel merges them with equal neighbours as it does for the recorded program),
//! and `move ... at=` is `mremap(MREMAP_MAYMOVE|MREMAP_FIXED)` to a place inside a space.

use super::proc::Region;
use super::{place, KernelRunner};
use crate::protocol::Command;
use foliolab_driver::RunError;
use foliolab_scenario::{At, MapKind, ProcOp, Prot, Range};

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
            } => {
                let r = Region {
                    addr: 0,
                    size: *size_bytes,
                    kind: kind.clone(),
                    prot: *prot,
                };
                self.map_at(proc, region, r, at, *file_offset_bytes)
            }
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

    /// Maps `r` (its address still to be found) at `at`, from `file_offset` of a file.
    fn map_at(
        &mut self,
        proc: &str,
        name: &str,
        mut r: Region,
        at: &At,
        file_offset: u64,
    ) -> R<()> {
        r.addr = self.at_addr(proc, at)?;
        let target = self.map_target(&r.kind, file_offset)?;
        let p = self.proc_mut(proc)?;
        p.call(&Command::Map {
            addr: r.addr,
            len: r.size,
            target,
            prot: r.prot,
        })?;
        p.regions.insert(name.to_string(), r);
        Ok(())
    }

    /// mremap of R's last page to a page plus `len` bytes, without MREMAP_MAYMOVE: the
    /// kernel grows its VMA in place.
    fn grow(&mut self, proc: &str, region: &str, len: u64) -> R<()> {
        let p = self.proc_mut(proc)?;
        let r = p.region(region)?.clone();
        let addr = r.addr + r.size - 4096;
        p.call(&Command::Grow {
            addr,
            new_len: 4096 + len,
        })?;
        if let Some(x) = p.regions.get_mut(region) {
            x.size += len;
        }
        Ok(())
    }

    fn move_at(&mut self, proc: &str, range: &Range, new_region: &str, at: &At) -> R<()> {
        let to = self.at_addr(proc, at)?;
        self.proc_mut(proc)?.move_to(range, new_region, to)?;
        Ok(())
    }
}
