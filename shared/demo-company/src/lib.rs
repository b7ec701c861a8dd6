//! demo-company
