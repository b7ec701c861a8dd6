//! marketing
