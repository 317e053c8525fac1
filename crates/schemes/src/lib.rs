//! Mapcount designs behind one trait: each sees the same rmap events and answers the same questions.
