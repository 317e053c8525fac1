//! Version 2 of the language (docs/scenario-format-v2.md): spaces and placed regions, what a
//! recorded program needs to say where its mappings are relative to each other. Parsing,
//! validation and printing of the version-2 statements live here; version-1 files never
//! reach this code.

use crate::ast::*;
use crate::cursor::{Cursor, OFFSET, SIZE};
use crate::error::ScenarioError;
use crate::lex::{width, Tok};
use crate::parse_proc::{num_option, set_once, ALIGN};
use crate::validate::{Checker, PAGE};
use foliolab_types::format_size_bytes as size;

/// The `at=` and `off=` options of `map` (version 2).
#[derive(Default)]
pub(crate) struct MapOptions {
    at: Option<At>,
    at_tok: Option<(u32, String)>,
    file_offset: Option<u64>,
}

impl MapOptions {
    /// Consumes `tok` if it is a version-2 option of `map`.
    pub fn option(&mut self, cur: &Cursor<'_>, tok: Tok<'_>) -> Result<bool, ScenarioError> {
        if tok.text.starts_with("at=") {
            let at = at_option(cur, tok)?;
            set_once(cur, tok, &mut self.at, at, "at")?;
            self.at_tok = Some((tok.col, tok.text.to_string()));
            return Ok(true);
        }
        let what = "a file offset (multiple of 4K)";
        num_option(cur, tok, "off", what, &mut self.file_offset)
    }

    /// The version-2 statement, when `at=` was given; `off=` needs `at=` and a file kind,
    /// `align=` excludes `at=`.
    pub fn finish(
        self,
        cur: &Cursor<'_>,
        region: &str,
        size_bytes: u64,
        kind: &MapKind,
        prot: Option<Prot>,
        had_align: bool,
    ) -> Result<Option<ProcOp>, ScenarioError> {
        let Some(at) = self.at else {
            if self.file_offset.is_some() {
                return Err(cur.err(None, "`off=` needs `at=` (version 2)"));
            }
            return Ok(None);
        };
        let at_tok = self.at_tok.unwrap_or_default();
        let tok = Tok {
            text: &at_tok.1,
            col: at_tok.0,
        };
        if had_align {
            return Err(cur.err(Some(tok), "`at=` and `align=` exclude each other"));
        }
        if self.file_offset.is_some() && !matches!(kind, MapKind::File { .. }) {
            return Err(cur.err(Some(tok), "`off=` is for file mappings only"));
        }
        Ok(Some(ProcOp::MapAt {
            region: region.to_string(),
            size_bytes,
            kind: kind.clone(),
            prot: prot.unwrap_or(Prot::Rw),
            at,
            file_offset_bytes: self.file_offset.unwrap_or(0),
        }))
    }
}

/// `at=S+OFF` (or `at=S`, offset 0).
pub(crate) fn at_option(cur: &Cursor<'_>, tok: Tok<'_>) -> Result<At, ScenarioError> {
    let body = &tok.text[3..];
    let (name, off) = match body.split_once('+') {
        Some((n, o)) => (n, Some(o)),
        None => (body, None),
    };
    let name_tok = Tok {
        text: name,
        col: tok.col + 3,
    };
    let space = cur.check_name(name_tok, "a space name (at=S+OFF)")?;
    let offset_bytes = match off {
        None => 0,
        Some(o) => cur.num_in(
            Tok {
                text: o,
                col: tok.col + 4 + width(name),
            },
            OFFSET,
        )?,
    };
    Ok(At {
        space,
        offset_bytes,
    })
}

/// `space S SIZE [align=A] [shift=OFF]`.
pub(crate) fn space(cur: &mut Cursor<'_>) -> Result<ProcOp, ScenarioError> {
    let space = cur.name("a space name")?;
    let size_bytes = cur.u64(SIZE)?;
    let (mut align, mut shift) = (None, None);
    while let Some(tok) = cur.peek() {
        cur.i += 1;
        let placement = num_option(cur, tok, "align", ALIGN, &mut align)?
            || num_option(cur, tok, "shift", OFFSET, &mut shift)?;
        if !placement {
            return Err(cur.err(Some(tok), "expected one of: align=A, shift=OFF"));
        }
    }
    Ok(ProcOp::Space {
        space,
        size_bytes,
        align_bytes: align.unwrap_or(DEFAULT_ALIGN_BYTES),
        shift_bytes: shift.unwrap_or(0),
    })
}

/// `move RANGE R2 at=S+OFF` (after the `at=` token).
pub(crate) fn move_at(
    cur: &Cursor<'_>,
    range: Range,
    new_region: String,
    at: At,
    had_align: bool,
) -> Result<ProcOp, ScenarioError> {
    if had_align {
        let why = "`at=` excludes `align=` and `shift=`";
        return Err(cur.err(None, why));
    }
    Ok(ProcOp::MoveAt {
        range,
        new_region,
        at,
    })
}

/// The text of a version-2 process statement (after `P: `), or `None` for version-1 ones.
pub(crate) fn print_op(op: &ProcOp) -> Option<String> {
    Some(match op {
        ProcOp::Space {
            space,
            size_bytes,
            align_bytes,
            shift_bytes,
        } => format!(
            "space {space} {}{}",
            size(*size_bytes),
            crate::print::placement_text(*align_bytes, *shift_bytes)
        ),
        ProcOp::MapAt {
            region,
            size_bytes,
            kind,
            prot,
            at,
            file_offset_bytes,
        } => {
            let mut s = format!("map {region} {}", size(*size_bytes));
            s.push_str(&crate::print::kind_text(kind));
            if *prot != Prot::Rw {
                s.push_str(&format!(" prot={}", prot.name()));
            }
            s.push_str(&format!(" at={}", print_at(at)));
            if *file_offset_bytes != 0 {
                s.push_str(&format!(" off={}", size(*file_offset_bytes)));
            }
            s
        }
        ProcOp::Grow { region, size_bytes } => format!("grow {region} {}", size(*size_bytes)),
        ProcOp::MoveAt {
            range,
            new_region,
            at,
        } => format!(
            "move {} {new_region} at={}",
            crate::print::print_range(range),
            print_at(at)
        ),
        _ => return None,
    })
}

fn print_at(at: &At) -> String {
    format!("{}+{}", at.space, size(at.offset_bytes))
}

impl Checker<'_> {
    /// Version-2 process statements; `None` for the others.
    pub(crate) fn v2_op(
        &mut self,
        pos: Pos,
        proc: &str,
        op: &ProcOp,
    ) -> Option<Result<(), ScenarioError>> {
        let r = match op {
            ProcOp::Space {
                space,
                size_bytes,
                align_bytes,
                shift_bytes,
            } => self.space(pos, proc, space, *size_bytes, *align_bytes, *shift_bytes),
            ProcOp::MapAt {
                region,
                size_bytes,
                kind,
                at,
                file_offset_bytes,
                ..
            } => self.map_at(pos, proc, region, *size_bytes, kind, at, *file_offset_bytes),
            ProcOp::MoveAt {
                range,
                new_region,
                at,
            } => self.move_at(pos, proc, range, new_region, at),
            ProcOp::Grow { region, size_bytes } => self.grow(pos, proc, region, *size_bytes),
            _ => return None,
        };
        Some(self.needs_v2(pos, op).and(r))
    }

    fn needs_v2(&self, pos: Pos, op: &ProcOp) -> Result<(), ScenarioError> {
        if self.version >= 2 {
            return Ok(());
        }
        let word = match op {
            ProcOp::Space { .. } => "space",
            ProcOp::MapAt { .. } => "map",
            ProcOp::Grow { .. } => "grow",
            _ => "move",
        };
        let why = match word {
            "grow" => "`grow` needs `scenario 2`".to_string(),
            _ => format!("`{word}` with a space needs `scenario 2`"),
        };
        Err(self.err(pos, Some(word), why))
    }

    fn space(
        &mut self,
        pos: Pos,
        proc: &str,
        space: &str,
        size_bytes: u64,
        align_bytes: u64,
        shift_bytes: u64,
    ) -> Result<(), ScenarioError> {
        self.page_size(pos, size_bytes, "space size")?;
        self.alignment(pos, align_bytes)?;
        if !shift_bytes.is_multiple_of(PAGE) || shift_bytes >= align_bytes {
            let why = "shift must be a multiple of 4K below the alignment";
            return Err(self.err(pos, Some(&size(shift_bytes)), why));
        }
        self.place(pos, size_bytes.saturating_add(shift_bytes), align_bytes)?;
        self.define_region(pos, proc, space, size_bytes)?;
        if let Some(p) = self.procs.get_mut(proc) {
            p.spaces.insert(space.to_string());
        }
        Ok(())
    }

    /// `at=S+OFF` for `len` bytes: S is a space of `proc` and the bytes fit inside it.
    fn at(&self, pos: Pos, proc: &str, at: &At, len: u64) -> Result<(), ScenarioError> {
        let info = self.procs.get(proc);
        let space_size = info
            .filter(|p| p.spaces.contains(&at.space))
            .and_then(|p| p.regions.get(&at.space));
        let Some(&space_size) = space_size else {
            let why = format!("unknown space `{}` of process `{proc}`", at.space);
            return Err(self.err(pos, Some(&at.space), why));
        };
        if !at.offset_bytes.is_multiple_of(PAGE) {
            let why = "offsets must be multiples of 4K";
            return Err(self.err(pos, Some(&size(at.offset_bytes)), why));
        }
        if at
            .offset_bytes
            .checked_add(len)
            .is_none_or(|e| e > space_size)
        {
            let why = format!(
                "`at={}+{}` does not fit in space `{}` (size {})",
                at.space,
                size(at.offset_bytes),
                at.space,
                size(space_size)
            );
            return Err(self.err(pos, Some(&at.space), why));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn map_at(
        &mut self,
        pos: Pos,
        proc: &str,
        region: &str,
        size_bytes: u64,
        kind: &MapKind,
        at: &At,
        file_offset_bytes: u64,
    ) -> Result<(), ScenarioError> {
        self.page_size(pos, size_bytes, "region size")?;
        self.at(pos, proc, at, size_bytes)?;
        if !file_offset_bytes.is_multiple_of(PAGE) {
            let why = "the file offset must be a multiple of 4K";
            return Err(self.err(pos, Some(&size(file_offset_bytes)), why));
        }
        if let MapKind::File { file, .. } = kind {
            if !self.files.contains(file) {
                return Err(self.err(pos, Some(file), format!("unknown file `{file}`")));
            }
        }
        self.define_region(pos, proc, region, size_bytes)
    }

    fn grow(
        &mut self,
        pos: Pos,
        proc: &str,
        region: &str,
        size_bytes: u64,
    ) -> Result<(), ScenarioError> {
        self.page_size(pos, size_bytes, "growth")?;
        // Growth takes address space after the region: counted as a region of its own.
        self.place(pos, size_bytes, PAGE)?;
        let p = self.procs.get_mut(proc);
        let Some(r) = p
            .filter(|p| !p.spaces.contains(region))
            .and_then(|p| p.regions.get_mut(region))
        else {
            let why = format!("unknown region `{region}` of process `{proc}`");
            return Err(self.err(pos, Some(region), why));
        };
        *r = r.saturating_add(size_bytes);
        Ok(())
    }

    fn move_at(
        &mut self,
        pos: Pos,
        proc: &str,
        range: &Range,
        new_region: &str,
        at: &At,
    ) -> Result<(), ScenarioError> {
        let (start, end) = self.range(proc, range)?;
        self.at(pos, proc, at, end - start)?;
        self.define_region(pos, proc, new_region, end - start)
    }
}
