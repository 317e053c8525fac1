//! The named races: for each, the question from the linux-mm debate, the designs it
//! concerns, its variants (the kernel's code paths, historical proposals, and test-only
//! unsafe versions the explorer must catch) and its cases (setup plus 2-3 threads).
//! docs/races.md says what each found.

pub mod cow_reuse;
pub mod deferred_split;
pub mod gup_free;
pub mod mmid_slots;
pub mod shared_check;
pub mod zap_no_gather;

use crate::exec::Case;
use crate::ops::fault::fault_new;
use crate::ops::fork::setup_fork;
use crate::ops::run_alone;
use crate::world::{Knobs, World};
use foliolab_types::Order;

/// One way of running a race's code paths.
#[derive(Clone, Copy, Debug)]
pub struct Variant {
    pub name: &'static str,
    pub about: &'static str,
    pub knobs: Knobs,
    /// Run under this (test-only) design instead of the race's designs.
    pub design: Option<&'static str>,
    /// A deliberately unsafe variant: the explorer must find a violation in it.
    pub unsafe_variant: bool,
    /// Built only with feature `test-variants` (the command never offers it).
    pub test_only: bool,
}

impl Variant {
    pub const fn kernel(about: &'static str, knobs: Knobs) -> Variant {
        Variant {
            name: "kernel",
            about,
            knobs,
            design: None,
            unsafe_variant: false,
            test_only: false,
        }
    }

    /// A deliberately unsafe variant, offered only in builds with feature `test-variants`.
    pub const fn unsafe_test(name: &'static str, about: &'static str, knobs: Knobs) -> Variant {
        Variant {
            name,
            about,
            knobs,
            design: None,
            unsafe_variant: true,
            test_only: true,
        }
    }
}

/// A named race.
pub struct Race {
    pub name: &'static str,
    pub title: &'static str,
    /// The question from the debate, one paragraph.
    pub question: &'static str,
    /// The designs it concerns.
    pub designs: &'static [&'static str],
    /// The default preemption bound (every case runs exhaustively to it).
    pub bound: u32,
    /// Every variant, the kernel's first; the test-only ones are offered only in builds
    /// with feature `test-variants` ([`Race::variants`]).
    pub all_variants: &'static [Variant],
    /// The cases under a design and variant.
    pub cases: fn(&Variant, &str) -> Vec<Case>,
}

impl Race {
    /// The variants, the kernel's first; unsafe test-only ones only with feature
    /// `test-variants`.
    pub fn variants(&self) -> Vec<Variant> {
        let built = |v: &&Variant| !v.test_only || cfg!(feature = "test-variants");
        self.all_variants.iter().filter(built).copied().collect()
    }

    pub fn variant(&self, name: &str) -> Option<Variant> {
        self.variants().into_iter().find(|v| v.name == name)
    }
}

/// Every race, in the order of the issue.
pub fn all() -> Vec<&'static Race> {
    vec![
        &gup_free::RACE,
        &shared_check::RACE,
        &cow_reuse::RACE,
        &zap_no_gather::RACE,
        &deferred_split::RACE,
        &mmid_slots::RACE,
    ]
}

pub fn by_name(name: &str) -> Option<&'static Race> {
    all().into_iter().find(|r| r.name == name)
}

/// A maps a 16K folio at pages 0-3 (the race's focus).
pub fn setup_private(w: &mut World) {
    run_alone(w, &fault_new(0, 0, Order(2)));
    w.focus = *w.live.iter().next().expect("the folio");
    w.window = (0..4).map(|i| w.focus.add(i)).collect();
}

/// A maps a 16K folio at pages 0-3 and forks B: both map it read-only, nothing exclusive.
pub fn setup_shared(w: &mut World) {
    setup_private(w);
    setup_fork(w, 0, 1, 0, 4);
}
