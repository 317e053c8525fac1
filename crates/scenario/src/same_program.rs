//! Comparing scenarios as programs: positions, line numbers and the path do not count.

use crate::ast::*;

impl Scenario {
    /// True when both scenarios have the same statements and comments in the same order,
    /// ignoring positions, line numbers, the path and the order of `thp` settings.
    pub fn same_program(&self, other: &Scenario) -> bool {
        self.without_positions().items == other.without_positions().items
    }

    /// A copy with every position and line number zeroed and `thp` settings sorted.
    pub fn without_positions(&self) -> Scenario {
        let items = self.items.iter().map(strip_item).collect();
        Scenario {
            path: String::new(),
            items,
        }
    }

    /// The statements, in file order (comments left out).
    pub fn statements(&self) -> impl Iterator<Item = &Stmt> {
        self.items.iter().filter_map(|i| match i {
            Item::Stmt(s) => Some(s),
            Item::Comment { .. } => None,
        })
    }
}

fn strip_item(item: &Item) -> Item {
    match item {
        Item::Comment { text, .. } => Item::Comment {
            line: 0,
            text: text.clone(),
        },
        Item::Stmt(st) => {
            let mut st = st.clone();
            st.pos = Pos::default();
            if let StmtKind::Thp { settings } = &mut st.kind {
                settings.sort_by_key(|s| s.key);
            }
            if let StmtKind::Proc { op, .. } = &mut st.kind {
                if let Some(r) = op.range_mut() {
                    r.pos = Pos::default();
                }
            }
            Item::Stmt(st)
        }
    }
}

/// The one list of statements that work on a range, for `range` and `range_mut`.
macro_rules! range_of {
    ($op:expr) => {
        match $op {
            ProcOp::Unmap { range }
            | ProcOp::Protect { range, .. }
            | ProcOp::Advise { range, .. }
            | ProcOp::Move { range, .. }
            | ProcOp::MoveAt { range, .. }
            | ProcOp::Write { range, .. }
            | ProcOp::Read { range }
            | ProcOp::Pin { range, .. }
            | ProcOp::Splice { range, .. }
            | ProcOp::Migrate { range }
            | ProcOp::ExpectValue { range, .. }
            | ProcOp::Remember { range, .. }
            | ProcOp::ExpectSame { range, .. }
            | ProcOp::ExpectNew { range, .. }
            | ProcOp::ExpectState { range, .. }
            | ProcOp::ExpectMapcount { range, .. }
            | ProcOp::ExpectExclusive { range, .. }
            | ProcOp::ExpectPmd { range, .. }
            | ProcOp::ExpectOrder { range, .. }
            | ProcOp::ExpectFolio { range, .. }
            | ProcOp::ExpectPage { range, .. }
            | ProcOp::Observe { range } => Some(range),
            _ => None,
        }
    };
}

impl ProcOp {
    /// The range the statement works on, if it has one.
    pub fn range(&self) -> Option<&Range> {
        range_of!(self)
    }

    fn range_mut(&mut self) -> Option<&mut Range> {
        range_of!(self)
    }

    /// True for the expectations of spec 3.3 (not `remember`).
    pub fn is_expectation(&self) -> bool {
        matches!(
            self,
            ProcOp::ExpectValue { .. }
                | ProcOp::ExpectSame { .. }
                | ProcOp::ExpectNew { .. }
                | ProcOp::ExpectState { .. }
                | ProcOp::ExpectMapcount { .. }
                | ProcOp::ExpectExclusive { .. }
                | ProcOp::ExpectPmd { .. }
                | ProcOp::ExpectOrder { .. }
                | ProcOp::ExpectFaults { .. }
                | ProcOp::ExpectSmaps { .. }
                | ProcOp::ExpectRss { .. }
                | ProcOp::ExpectPipe { .. }
                | ProcOp::ExpectPin { .. }
                | ProcOp::ExpectFolio { .. }
                | ProcOp::ExpectPage { .. }
        )
    }
}

impl RangeForm {
    /// Byte offsets [start, end), or `None` when the arithmetic overflows.
    pub fn checked_resolve(self, region_size_bytes: u64) -> Option<(u64, u64)> {
        match self {
            RangeForm::Whole => Some((0, region_size_bytes)),
            RangeForm::Page { offset_bytes } => Some((
                offset_bytes,
                offset_bytes.checked_add(foliolab_types::PAGE_SIZE)?,
            )),
            RangeForm::Span {
                start_bytes,
                end_bytes,
            } => Some((start_bytes, end_bytes)),
            RangeForm::Len {
                start_bytes,
                len_bytes,
            } => Some((start_bytes, start_bytes.checked_add(len_bytes)?)),
        }
    }
}
