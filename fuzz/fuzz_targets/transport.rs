//! The `Transport` header parser on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xlgw_rtsp::{TransportSpec, parse_transport};

fuzz_target!(|header: &str| {
    match parse_transport(header) {
        Some(TransportSpec::Udp { rtp_port, .. }) => assert_ne!(rtp_port, 0),
        Some(TransportSpec::Interleaved { .. }) | None => {}
    }
});
