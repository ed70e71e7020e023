#![no_main]
//! See `gradfuzz::targets::load_case`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| gradfuzz::targets::load_case(data));
