//! Any byte string given to the package reader (what a device or `seam deploy` is handed): an
//! error or a verified package, never a panic or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = seam_compiler_bridge::package::verify(data, None);
});
