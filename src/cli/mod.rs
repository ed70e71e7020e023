//! The commands, one file each; [`args`] is the grammar they share.

pub mod args;
pub mod bench;
pub mod check;
pub mod dot;
pub mod fuzz;
pub mod gates;
pub mod json;
pub mod junit;
pub mod measure;
pub mod merge;
pub mod new_case;
pub mod one_case;
pub mod saved;
pub mod suite;
