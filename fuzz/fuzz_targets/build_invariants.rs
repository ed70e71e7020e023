#![no_main]
//! See `gradfuzz::targets::build_invariants`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| gradfuzz::targets::build_invariants(data));
