//! sales
