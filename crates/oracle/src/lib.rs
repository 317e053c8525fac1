//! Truth from page tables and page contents: true mapcounts, who maps each folio, what every read must return. Never reads a scheme.
