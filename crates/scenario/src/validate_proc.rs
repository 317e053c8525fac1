//! Static checks of process statements.

use crate::ast::*;
use crate::error::ScenarioError;
use crate::tables::FieldKind;
use crate::validate::{Checker, Held, PAGE};
use foliolab_types::format_size_bytes as size;

impl Checker<'_> {
    pub(crate) fn proc_stmt(
        &mut self,
        pos: Pos,
        proc: &str,
        op: &ProcOp,
    ) -> Result<(), ScenarioError> {
        self.live_proc(pos, proc)?;
        if let Some(range) = op.range() {
            self.range(proc, range)?;
        }
        match op {
            ProcOp::Pin { name, .. } => self.define_held(pos, proc, name, false),
            ProcOp::Splice { name, .. } => self.define_held(pos, proc, name, true),
            ProcOp::Release { name } => self.release(pos, proc, name),
            ProcOp::ExpectPin { name, .. } => self.check_held(pos, proc, name, false).map(drop),
            ProcOp::ExpectPipe { name, .. } => self.check_held(pos, proc, name, true).map(drop),
            _ => match self.v2_op(pos, proc, op) {
                Some(r) => r,
                None => self.other_op(pos, proc, op),
            },
        }
    }

    fn live_proc(&self, pos: Pos, proc: &str) -> Result<(), ScenarioError> {
        match self.procs.get(proc) {
            None => Err(self.err(pos, Some(proc), format!("unknown process `{proc}`"))),
            Some(p) if !p.alive => {
                Err(self.err(pos, Some(proc), format!("process `{proc}` has exited")))
            }
            Some(_) => Ok(()),
        }
    }

    fn other_op(&mut self, pos: Pos, proc: &str, op: &ProcOp) -> Result<(), ScenarioError> {
        match op {
            ProcOp::Map {
                region,
                size_bytes,
                kind,
                align_bytes,
                ..
            } => self.map(pos, proc, region, *size_bytes, kind, *align_bytes),
            ProcOp::Move {
                range,
                new_region,
                align_bytes,
                shift_bytes,
            } => self.mremap(pos, proc, range, new_region, *align_bytes, *shift_bytes),
            ProcOp::Fork { child } => {
                let mut info = self.procs.get(proc).cloned().unwrap_or_default();
                info.alive = true;
                self.define_proc(pos, child, info)
            }
            ProcOp::Exit => {
                self.exit(proc);
                Ok(())
            }
            ProcOp::Remember { snapshot, .. } => {
                let new = self.snapshots.insert(snapshot.clone());
                self.fresh(pos, new, snapshot, "snapshot")
            }
            ProcOp::ExpectSame {
                snapshot, at_bytes, ..
            }
            | ProcOp::ExpectNew {
                snapshot, at_bytes, ..
            } => self.snapshot_use(pos, snapshot, *at_bytes),
            ProcOp::ExpectSmaps {
                region, size_bytes, ..
            } => {
                self.region(pos, proc, region)?;
                if size_bytes % 1024 != 0 {
                    let why = "smaps sizes are multiples of 1K";
                    return Err(self.err(pos, Some(&size(*size_bytes)), why));
                }
                Ok(())
            }
            ProcOp::ObserveSmaps { region } => self.region(pos, proc, region),
            ProcOp::ExpectFolio { field, value, .. } => {
                self.field_value(pos, field.name(), field.value_kind(), value)
            }
            ProcOp::ExpectPage { field, value, .. } => {
                self.field_value(pos, field.name(), field.value_kind(), value)
            }
            _ => Ok(()),
        }
    }

    fn map(
        &mut self,
        pos: Pos,
        proc: &str,
        region: &str,
        size_bytes: u64,
        kind: &MapKind,
        align_bytes: u64,
    ) -> Result<(), ScenarioError> {
        self.page_size(pos, size_bytes, "region size")?;
        self.alignment(pos, align_bytes)?;
        if let MapKind::File { file, .. } = kind {
            if !self.files.contains(file) {
                return Err(self.err(pos, Some(file), format!("unknown file `{file}`")));
            }
        }
        self.define_region(pos, proc, region, size_bytes)
    }

    fn mremap(
        &mut self,
        pos: Pos,
        proc: &str,
        range: &Range,
        new_region: &str,
        align_bytes: u64,
        shift_bytes: u64,
    ) -> Result<(), ScenarioError> {
        let (start, end) = self.range(proc, range)?;
        self.alignment(pos, align_bytes)?;
        if !shift_bytes.is_multiple_of(PAGE) || shift_bytes >= align_bytes {
            let why = "shift must be a multiple of 4K below the alignment";
            return Err(self.err(pos, Some(&size(shift_bytes)), why));
        }
        self.define_region(pos, proc, new_region, end - start)
    }

    pub(crate) fn define_region(
        &mut self,
        pos: Pos,
        proc: &str,
        region: &str,
        bytes: u64,
    ) -> Result<(), ScenarioError> {
        let regions = self.procs.get(proc).map(|p| &p.regions);
        let new = regions.is_some_and(|r| !r.contains_key(region));
        self.fresh(pos, new, region, "region")?;
        if let Some(p) = self.procs.get_mut(proc) {
            p.regions.insert(region.to_string(), bytes);
        }
        Ok(())
    }

    fn region(&self, pos: Pos, proc: &str, region: &str) -> Result<(), ScenarioError> {
        let known = self
            .procs
            .get(proc)
            .is_some_and(|p| p.regions.contains_key(region));
        if !known {
            let why = format!("unknown region `{region}` of process `{proc}`");
            return Err(self.err(pos, Some(region), why));
        }
        Ok(())
    }

    fn exit(&mut self, proc: &str) {
        if let Some(p) = self.procs.get_mut(proc) {
            p.alive = false;
        }
        for held in self.held.values_mut().filter(|h| h.proc == proc) {
            held.released = true;
        }
    }

    fn define_held(
        &mut self,
        pos: Pos,
        proc: &str,
        name: &str,
        pipe: bool,
    ) -> Result<(), ScenarioError> {
        let new = !self.held.contains_key(name);
        self.fresh(pos, new, name, "pin or pipe")?;
        let held = Held {
            proc: proc.to_string(),
            pipe,
            released: false,
        };
        self.held.insert(name.to_string(), held);
        Ok(())
    }

    /// A live pin (or pipe) `name` held by `proc`; `pipe` says which kind the statement wants.
    fn check_held(
        &self,
        pos: Pos,
        proc: &str,
        name: &str,
        pipe: bool,
    ) -> Result<&Held, ScenarioError> {
        let what = if pipe { "pipe" } else { "pin" };
        let Some(h) = self.held.get(name) else {
            return Err(self.err(pos, Some(name), format!("unknown {what} `{name}`")));
        };
        if h.pipe != pipe {
            let other = if h.pipe { "pipe" } else { "pin" };
            return Err(self.err(
                pos,
                Some(name),
                format!("`{name}` is a {other}, not a {what}"),
            ));
        }
        self.held_live(pos, proc, name, h)?;
        Ok(h)
    }

    fn held_live(&self, pos: Pos, proc: &str, name: &str, h: &Held) -> Result<(), ScenarioError> {
        if h.released {
            return Err(self.err(pos, Some(name), format!("`{name}` has been released")));
        }
        if h.proc != proc {
            let why = format!("`{name}` is held by process `{}`", h.proc);
            return Err(self.err(pos, Some(name), why));
        }
        Ok(())
    }

    fn release(&mut self, pos: Pos, proc: &str, name: &str) -> Result<(), ScenarioError> {
        let Some(h) = self.held.get(name) else {
            return Err(self.err(pos, Some(name), format!("unknown pin or pipe `{name}`")));
        };
        self.held_live(pos, proc, name, h)?;
        if let Some(h) = self.held.get_mut(name) {
            h.released = true;
        }
        Ok(())
    }

    fn snapshot_use(&self, pos: Pos, snapshot: &str, at: Option<u64>) -> Result<(), ScenarioError> {
        if !self.snapshots.contains(snapshot) {
            return Err(self.err(
                pos,
                Some(snapshot),
                format!("unknown snapshot `{snapshot}`"),
            ));
        }
        match at {
            Some(a) if a % PAGE != 0 => {
                Err(self.err(pos, Some(&size(a)), "offset must be a multiple of 4K"))
            }
            _ => Ok(()),
        }
    }

    fn field_value(
        &self,
        pos: Pos,
        field: &str,
        want: FieldKind,
        v: &FieldValue,
    ) -> Result<(), ScenarioError> {
        if v.kind() != want {
            let expected = match want {
                FieldKind::Int => "an integer",
                FieldKind::Bool => "true or false",
                FieldKind::Slot => "PROC:COUNT or none",
            };
            let why = format!("`{field}` takes {expected}");
            return Err(self.err(pos, Some(field), why));
        }
        if let FieldValue::Slot { proc, .. } = v {
            if !self.procs.contains_key(proc) {
                return Err(self.err(pos, Some(proc), format!("unknown process `{proc}`")));
            }
        }
        Ok(())
    }
}
