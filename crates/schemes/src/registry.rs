//! The one table of designs: name, constructor and what each declares of itself. The command
//! line, `compare`, the fuzzer and the model find designs here and ask their properties here;
//! nothing else lists scheme names or compares them.

use crate::scheme::Scheme;
use foliolab_types::MODEL_NR_PAGES;

/// What a design declares of itself, beyond what its answers show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Properties {
    /// Its COW rule lets a process read another's writes after their fork, and a pin lose
    /// sight of the pinned process's writes (CVE-2020-29374): such leaks are the design's,
    /// not failures of the model.
    pub leaks_by_design: bool,
    /// NR_ANON_MAPPED is a function of the page tables, so the model checks its conservation
    /// after every statement. Before 6.2 it depends on the history: PTEs that came from a PMD
    /// split (DoubleMap offsets every `_mapcount`) were not counted, PTEs added by rmap calls
    /// (migration, swap-in) were, and the difference stays after the PMD goes.
    pub anon_mapped_conserved: bool,
}

/// The properties of a design that declares nothing special (and of unregistered test
/// designs): no leaks, NR_ANON_MAPPED conserved.
pub const PLAIN: Properties = Properties {
    leaks_by_design: false,
    anon_mapped_conserved: true,
};

/// One registered design.
#[derive(Clone, Copy, Debug)]
pub struct Design {
    /// Command-line name.
    pub name: &'static str,
    /// One line: what it is.
    pub summary: &'static str,
    pub properties: Properties,
    make: fn() -> Box<dyn Scheme>,
}

impl Design {
    /// A fresh instance, sized for the model's memory.
    pub fn instantiate(&self) -> Box<dyn Scheme> {
        (self.make)()
    }
}

const PRE_6_2: Properties = Properties {
    leaks_by_design: false,
    anon_mapped_conserved: false,
};

/// Every design this build provides, oldest first.
pub const DESIGNS: &[Design] = &[
    Design {
        name: "linux-5.7",
        summary: "6.1-era accounting, pre-5.8 COW rule (reuse when mapped once)",
        properties: Properties {
            leaks_by_design: true,
            anon_mapped_conserved: false,
        },
        make: || Box::new(crate::linux_5_7::new()),
    },
    Design {
        name: "linux-6.1",
        summary: "compound_mapcount + per-page `_mapcount` + PageDoubleMap, per-page rmap",
        properties: PRE_6_2,
        make: || {
            Box::new(crate::linux_6_1::Era61::new(
                crate::linux_6_1::CowRule::Since58,
            ))
        },
    },
    Design {
        name: "linux-6.5",
        summary: "`_entire_mapcount` + `_nr_pages_mapped` + per page; estimated sharers",
        properties: PLAIN,
        make: || Box::new(crate::linux_6_5::Linux65::new()),
    },
    Design {
        name: "linux-6.14",
        summary: "+ `_large_mapcount`, batched; `folio_likely_mapped_shared`; no large reuse",
        properties: PLAIN,
        make: || Box::new(crate::linux_6_14::Linux614::new()),
    },
    Design {
        name: "linux-6.18",
        summary: "MM_ID slots + shared bit + per page (this machine's kernel)",
        properties: PLAIN,
        make: || Box::new(crate::linux_6_18::Linux618::new(MODEL_NR_PAGES)),
    },
    Design {
        name: "linux-6.18-npm",
        summary: "MM_ID, NO_PAGE_MAPCOUNT",
        properties: PLAIN,
        make: || Box::new(crate::linux_6_18_npm::Linux618Npm::new()),
    },
    Design {
        name: "rfc-2026",
        summary: "`_total_mapped_pages`, no per-page counts (April 2026 RFC)",
        properties: PLAIN,
        make: || Box::new(crate::rfc_2026::Rfc2026::new()),
    },
    Design {
        name: "vma-count",
        summary: "the folio mapcount counts VMAs (seeds 003)",
        properties: PLAIN,
        make: || Box::new(crate::vma_count::VmaCount::new()),
    },
    Design {
        name: "rmap-id",
        summary: "precise \"mapped shared\" with rmap ids (Nov 2023 RFC)",
        properties: PLAIN,
        make: || Box::new(crate::rmap_id::RmapId::new()),
    },
    Design {
        name: "exact",
        summary: "per (MM, page) bookkeeping: the truth from events",
        properties: PLAIN,
        make: || Box::new(crate::exact::Exact::new()),
    },
];

/// The registered design called `name`.
pub fn design(name: &str) -> Option<&'static Design> {
    DESIGNS.iter().find(|d| d.name == name)
}

/// Every registered name, oldest design first, as a constant (the race explorer's races
/// name the designs they concern in statics).
pub const DESIGN_NAMES: [&str; DESIGNS.len()] = {
    let mut names = [""; DESIGNS.len()];
    let mut i = 0;
    while i < DESIGNS.len() {
        names[i] = DESIGNS[i].name;
        i += 1;
    }
    names
};

/// Every registered name, oldest design first.
pub fn names() -> impl Iterator<Item = &'static str> {
    DESIGNS.iter().map(|d| d.name)
}

/// A fresh instance of the design called `name`.
pub fn by_name(name: &str) -> Option<Box<dyn Scheme>> {
    design(name).map(Design::instantiate)
}

/// What the design called `name` declares ([`PLAIN`] for a name the registry does not know,
/// as test designs have).
pub fn properties(name: &str) -> Properties {
    design(name).map_or(PLAIN, |d| d.properties)
}

/// The registered names joined for messages (`linux-5.7, linux-6.1, ...`).
pub fn known() -> String {
    names().collect::<Vec<_>>().join(", ")
}
