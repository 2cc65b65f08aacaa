//! A package file as a device or the service opens it: the archive, the manifest, the
//! digests and the signature check.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = seam_package::open(bytes);
    let _ = seam_package::verify(bytes, None);
    let _ = seam_package::verify(bytes, Some(&"ab".repeat(32)));
});
