//! Model-only fields of a page observation: as `FieldValue`s (for `expect folio`/`expect
//! page`) and as a JSON object (for page records).

use crate::obs::{ModelFolioObs, ModelPageObs};
use foliolab_scenario::{FieldValue, FolioField, PageField};
use serde_json::{Map, Value};

pub fn folio(f: &ModelFolioObs, field: FolioField) -> Option<FieldValue> {
    let int = |v: Option<i64>| v.map(FieldValue::Int);
    let boolean = |v: Option<bool>| v.map(FieldValue::Bool);
    match field {
        FolioField::Refcount => int(f.refcount),
        FolioField::Mapcount => int(f.mapcount),
        FolioField::LargeMapcount => int(f.large_mapcount),
        FolioField::EntireMapcount => int(f.entire_mapcount),
        FolioField::NrPagesMapped => int(f.nr_pages_mapped),
        FolioField::Pincount => int(f.pincount),
        FolioField::Slot0 => f.slot0.as_ref().map(slot),
        FolioField::Slot1 => f.slot1.as_ref().map(slot),
        FolioField::MaybeShared => boolean(f.maybe_shared),
        FolioField::PartiallyMapped => boolean(f.partially_mapped),
        FolioField::Deferred => boolean(f.deferred),
    }
}

pub fn page(m: &ModelPageObs, field: PageField) -> Option<FieldValue> {
    match field {
        PageField::PageMapcount => m.page_mapcount.map(FieldValue::Int),
        PageField::AnonExclusive => m.anon_exclusive.map(FieldValue::Bool),
        PageField::Writable => m.writable.map(FieldValue::Bool),
    }
}

fn slot(s: &Option<(String, i64)>) -> FieldValue {
    match s {
        Some((proc, count)) => FieldValue::Slot {
            proc: proc.clone(),
            count: *count,
        },
        None => FieldValue::NoSlot,
    }
}

fn json(v: FieldValue) -> Value {
    match v {
        FieldValue::Int(n) => Value::from(n),
        FieldValue::Bool(b) => Value::from(b),
        other => Value::from(crate::pages::field_text(&other)),
    }
}

/// The model-only fields that are kept, as `{"page_mapcount":..,"folio":{..}}`.
pub fn to_json(m: &ModelPageObs) -> Value {
    let mut page = Map::new();
    for f in [
        PageField::PageMapcount,
        PageField::AnonExclusive,
        PageField::Writable,
    ] {
        if let Some(v) = self::page(m, f) {
            page.insert(f.name().to_string(), json(v));
        }
    }
    let mut fol = Map::new();
    for f in FOLIO_FIELDS {
        if let Some(v) = folio(&m.folio, f) {
            fol.insert(f.name().to_string(), json(v));
        }
    }
    page.insert("folio".to_string(), Value::Object(fol));
    Value::Object(page)
}

const FOLIO_FIELDS: [FolioField; 11] = [
    FolioField::Refcount,
    FolioField::Mapcount,
    FolioField::LargeMapcount,
    FolioField::EntireMapcount,
    FolioField::NrPagesMapped,
    FolioField::Pincount,
    FolioField::Slot0,
    FolioField::Slot1,
    FolioField::MaybeShared,
    FolioField::PartiallyMapped,
    FolioField::Deferred,
];
