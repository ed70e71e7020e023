#![no_main]
//! See `gradfuzz::targets::check_reference`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| gradfuzz::targets::check_reference(data));
