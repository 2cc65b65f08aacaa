//! A device's answer in any content format: TLV, SenML JSON and CBOR, LwM2M JSON, text,
//! opaque, link format (the first byte picks the format).
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    seam_lwm2m::fuzzing::lwm2m_payload(bytes);
});
