//! The commands, one file each; [`args`] is the grammar they share.

pub mod args;
pub mod bench;
pub mod check;
pub mod fuzz;
pub mod merge;
pub mod new_case;
pub mod one_case;
