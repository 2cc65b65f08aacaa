//! A CoAP datagram from anyone: the exchange layer's reading of it and the registration
//! interface's parsing.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    seam_lwm2m::fuzzing::coap_datagram(bytes);
});
