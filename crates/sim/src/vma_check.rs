//! The VMA-count check of a design that counts VMAs, after every statement, at the cost of
//! what the statement touched: the design's count of each touched folio against the VMAs
//! that map it (found by the model's rmap walk, read from the page tables and VMAs). A
//! folio the statement did not touch kept its mappings, its VMAs (a VMA change under a
//! mapped folio touches it) and the design's count, so while everything agreed after the
//! last statement, only the touched folios can disagree now. When one does, or did after
//! the last statement, the full check runs instead ([`foliolab_oracle::vmas_per_folio`], a
//! walk of every page table), so the messages are the full check's every time.

use foliolab_model::Model;
use foliolab_types::Pfn;

/// What the check keeps between statements.
#[derive(Clone, Debug, Default)]
pub(crate) struct VmaCheck {
    /// The full check found a disagreement after the last statement.
    unclean: bool,
}

impl VmaCheck {
    /// The check after a statement that touched the folios `touched` (sorted); `full`
    /// asks for the full check; `agreement` runs both and panics when their verdicts
    /// differ. Nothing for a design that does not count VMAs.
    pub(crate) fn run(
        &mut self,
        model: &Model,
        touched: &[Pfn],
        full: bool,
        agreement: bool,
    ) -> Vec<String> {
        if !model.design_counts_vmas() {
            return Vec::new();
        }
        if !full && !self.unclean {
            let quick = model.check_design_vmas_of(touched);
            if quick.is_empty() && !agreement {
                return quick;
            }
            let all = self.full(model);
            assert!(
                !agreement || quick.is_empty() == all.is_empty(),
                "agreement: the VMA check on touched folios says {quick:?}, the full one {all:?}"
            );
            return all;
        }
        self.full(model)
    }

    fn full(&mut self, model: &Model) -> Vec<String> {
        let spaces = model.processes().map(|(_, p)| &p.aspace);
        let vmas = foliolab_oracle::vmas_per_folio(spaces, &model.mem);
        let out = model.check_design_vmas(&vmas);
        self.unclean = !out.is_empty();
        out
    }
}
