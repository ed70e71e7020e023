//! The commands, one file each; [`flags`] parses what they share.

pub mod bench;
pub mod check;
pub mod flags;
pub mod fuzz;
pub mod merge;
pub mod new_case;
pub mod one_case;
