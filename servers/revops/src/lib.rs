//! revops
