//! The limits of a valid scenario (docs/scenario-format-v1.md, "Limits"). Each is checked
//! before anything runs (by [`crate::parse`] or [`crate::validate`]), so no runner ever
//! starts work it cannot finish; an error names the limit.

use foliolab_types::format_size_bytes as size;

/// The largest scenario text, in bytes (a recorded workload of a few hundred thousand
/// statements fits).
pub const MAX_SCENARIO_BYTES: u64 = 64 << 20;

/// The address space all regions of a scenario may need together. A region (`map`, or the
/// new region of `move`) counts its size plus three times its alignment plus 4M, which bounds
/// what a runner needs to place it at an odd multiple of its alignment (plus `shift`) in a
/// page-table range of its own. Runners start placing at 1T, so everything stays below
/// 65T, inside the 128T of a 47-bit user address space.
pub const MAX_ADDRESS_SPACE_BYTES: u64 = 64 << 40;

/// The largest range of a statement that visits every base page of it (`read`, `write`,
/// `pin`, `splice`, `migrate`, `remember`, `observe`, `advise populate_read|populate_write`,
/// every `expect` on a range), and the largest driver region (populated whole at `map`).
/// Each such page costs a record or a page-table entry on every runner.
pub const MAX_PAGE_WALK_BYTES: u64 = 4 << 30;

/// The largest swap device (the model's physical memory is 16G; the probe's compressed RAM
/// device costs kernel memory in proportion to its size).
pub const MAX_SWAP_BYTES: u64 = 16 << 30;

/// The largest file (`file F SIZE`).
pub const MAX_FILE_BYTES: u64 = MAX_ADDRESS_SPACE_BYTES;

/// Address space a region of `size_bytes` aligned to `align_bytes` counts against
/// [`MAX_ADDRESS_SPACE_BYTES`] (saturating).
pub fn region_footprint_bytes(size_bytes: u64, align_bytes: u64) -> u64 {
    size_bytes
        .saturating_add(align_bytes.saturating_mul(3))
        .saturating_add(4 << 20)
}

/// `the limit is 4G (1048576 pages; ...)`-style help text.
pub(crate) fn limit_text(limit_bytes: u64) -> String {
    const T: u64 = 1 << 40;
    let amount = if limit_bytes.is_multiple_of(T) {
        format!("{} ({} TiB)", size(limit_bytes), limit_bytes / T)
    } else {
        format!(
            "{} ({} pages)",
            size(limit_bytes),
            limit_bytes / foliolab_types::PAGE_SIZE
        )
    };
    format!("the limit is {amount}; see Limits in the format spec")
}
