//! Version-2 statements on the model: spaces (address space set aside, nothing mapped),
//! regions placed inside them (merged with equal neighbours, as the kernel merges VMAs) and
//! moves to a place inside a space.

use crate::runner::{mprot, ModelRunner};
use foliolab_driver::RunError;
use foliolab_model::Pid;
use foliolab_scenario::{At, MapKind, ProcOp};
use foliolab_types::{VirtAddr, PAGE_SIZE};

impl ModelRunner {
    /// Performs a version-2 statement; `None` for every other statement.
    pub(crate) fn perform_placed(
        &mut self,
        proc: &str,
        pid: Pid,
        op: &ProcOp,
    ) -> Option<Result<(), RunError>> {
        Some(match op {
            ProcOp::Space {
                space,
                size_bytes,
                align_bytes,
                shift_bytes,
            } => {
                self.place
                    .place_shifted(proc, space, *size_bytes, *align_bytes, *shift_bytes);
                Ok(())
            }
            ProcOp::MapAt {
                region,
                size_bytes,
                kind,
                prot,
                at,
                file_offset_bytes,
            } => self.map_at(
                proc,
                pid,
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
            } => self.move_at(proc, pid, range, new_region, at),
            ProcOp::Grow { region, size_bytes } => self.grow(proc, pid, region, *size_bytes),
            _ => return None,
        })
    }

    fn at_addr(&self, proc: &str, at: &At) -> Result<VirtAddr, RunError> {
        Ok(self.region(proc, &at.space)?.start.add(at.offset_bytes))
    }

    #[allow(clippy::too_many_arguments)]
    fn map_at(
        &mut self,
        proc: &str,
        pid: Pid,
        region: &str,
        size_bytes: u64,
        kind: &MapKind,
        prot: foliolab_scenario::Prot,
        at: &At,
        file_offset_bytes: u64,
    ) -> Result<(), RunError> {
        let start = self.at_addr(proc, at)?;
        let end = start.add(size_bytes);
        match kind {
            MapKind::File { file, shared } => {
                let id = *self
                    .files
                    .get(file)
                    .ok_or_else(|| RunError::new(format!("no file {file}")))?;
                let first = file_offset_bytes / PAGE_SIZE;
                self.model
                    .mmap_file_at(pid, start, size_bytes, mprot(prot), id, *shared, first)
                    .map_err(Self::err)?;
                self.expected
                    .map_file(pid.0, start, end, id.0, first, *shared);
            }
            MapKind::Anon => self
                .model
                .mmap_anon_at(pid, start, size_bytes, mprot(prot))
                .map_err(Self::err)?,
            _ => {
                self.map(pid, start, size_bytes, mprot(prot), kind)?;
                self.model.merge_vmas_around(pid, start, end);
            }
        }
        self.place.define(proc, region, start, size_bytes);
        Ok(())
    }

    fn grow(&mut self, proc: &str, pid: Pid, region: &str, len: u64) -> Result<(), RunError> {
        let r = self.region(proc, region)?;
        let end = r.start.add(r.size_bytes);
        self.model.grow_vma(pid, end, len).map_err(Self::err)?;
        let vma = self.model.proc(pid).aspace.vmas.find(end).cloned();
        if let Some(v) = vma {
            if let foliolab_mem::VmaKind::File { file, shared } = v.kind {
                let first = v.pgoff + (end.0 - v.start.0) / PAGE_SIZE;
                let new_end = end.add(len);
                self.expected
                    .map_file(pid.0, end, new_end, file, first, shared);
            }
        }
        self.place.define(proc, region, r.start, r.size_bytes + len);
        Ok(())
    }

    fn move_at(
        &mut self,
        proc: &str,
        pid: Pid,
        range: &foliolab_scenario::Range,
        new_region: &str,
        at: &At,
    ) -> Result<(), RunError> {
        let (s, e) = self.span(proc, range)?;
        let new = self.at_addr(proc, at)?;
        let len = e.0 - s.0;
        self.model
            .mremap_move(pid, s, len, new)
            .map_err(Self::err)?;
        self.model.merge_vmas_around(pid, new, new.add(len));
        self.expected.move_range(pid.0, s, e, new);
        self.place.define(proc, new_region, new, len);
        Ok(())
    }
}
